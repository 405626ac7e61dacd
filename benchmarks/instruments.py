"""The multi-track encodings against today's single-stream `rhythm`, side by side in one run: issue 30's per-note
cross-entropy.

    nice -n 10 python -m benchmarks.instruments [--raw-from PROJECT] [--pieces 120] [--epochs 3]
        [--windows-per-epoch 512] [--json FILE]

For each genre, the first `--pieces` MIDI files of PROJECT/data/raw/<genre>/ (the scrape stage's), each read once
with its tracks (parsing.read_piece_tracks, as `instruments: keep` parses), split by piece as the sequences stage
does, and encoded three ways from that same record:

- `rhythm_merged`: every part merged into one stream (`instruments: merge`, what `rhythm` was before instruments);
- `rhythm_keep`: `rhythm` with its instruments (a Program_ token where the instrument changes, Drum_ hits);
- `remi_plus_keep`: MidiTok's REMI+ with every track.

Each is numbered by its encoding's fixed vocabulary. The same small causal transformer is trained on each for the
same windows, then scored on evenly spaced validation windows. Per note means per note of the validation pieces:
the mean token cross-entropy times the tokens the encoding spends on the validation pieces, divided by their notes
(every pitch of a chord a note, every drum hit), so an encoding that writes more tokens per note pays for each;
`per_note_token` is evaluate's figure (loss on note tokens / their number) for reference. Scored after every epoch;
the best epoch is reported (the train stage keeps its best epoch too), with the last epoch's figure beside it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from jukebox.artifacts import write_json
from jukebox.dataset import Vocabulary, melody_key, split_pieces, training_dataset, window_starts, windows
from jukebox.encodings import get_encoding
from jukebox.encodings.fixed import fixed_vocabulary
from jukebox.evaluation import cross_entropy, cross_entropy_per_note
from jukebox.layout import Layout
from jukebox.parsing import read_piece_tracks

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = dict(seq_len=128, layers=2, units=64, heads=2, token_conv=8, learning_rate=0.003, batch_size=16,
                val_windows=512, seed=42)
VARIANTS = {"rhythm_merged": ("rhythm", False), "rhythm_keep": ("rhythm", True), "remi_plus_keep": ("remi_plus", True)}


def streams(records: list[dict], encoding: str, keep: bool) -> list[list[str]]:
    """Each record's tokens, closed by the encoding's end token, as the sequences stage writes them; without
    `keep` the record's merged notes alone (what instruments: merge parses)."""
    coder = get_encoding(encoding)
    return [coder.encode_record(r if keep else {k: v for k, v in r.items() if k != "tracks"}, "keep")[0]
            + [coder.end] for r in records]


def notes_of(record: dict, keep: bool) -> int:
    """The notes a record's stream holds: its merged pitched notes, plus every drum hit when its tracks are kept."""
    hits = sum(len(t["notes"]) for t in record["tracks"] if t["is_drum"]) if keep else 0
    return len(record["notes"]) + hits


def measure(records: list[dict], variant: str, epochs: int, windows_per_epoch: int) -> dict:
    """Train and score one encoding of a genre's pieces."""
    import keras

    from jukebox.model import ModelConfig, build_model

    s = SETTINGS
    encoding, keep = VARIANTS[variant]
    coder = get_encoding(encoding)
    tokens = streams(records, encoding, keep)
    train_idx, val_idx = split_pieces(len(tokens), 0.1, s["seed"], [melody_key(r["notes"]) for r in records])
    fixed = fixed_vocabulary(encoding)
    known = set(fixed.tokens)
    tokens = [[t if t in known else fixed.tokens[0] for t in piece] for piece in tokens]  # outside: <unk>, as stored
    vocab = Vocabulary(tuple(fixed.tokens), tuple(1 for _ in fixed.tokens))
    train = np.concatenate([vocab.ids(tokens[i]) for i in train_idx])
    val = np.concatenate([vocab.ids(tokens[i]) for i in val_idx])
    val_notes = sum(notes_of(records[i], keep) for i in val_idx)
    keras.utils.set_random_seed(s["seed"])
    config = ModelConfig(architecture="transformer", seq_len=s["seq_len"], encoding=encoding, layers=s["layers"],
                         units=s["units"], heads=s["heads"], token_conv=s["token_conv"], dropout=0.0,
                         optimizer="adam", learning_rate=s["learning_rate"])
    model = build_model(len(vocab), config)
    x, y = windows(val, window_starts(len(val), s["seq_len"], s["val_windows"]), s["seq_len"])
    notes = np.array([coder.is_note(vocab.tokens[t]) for t in y])
    scores: list[dict] = []

    def score(epoch, logs=None):
        probs = model.predict(x, batch_size=64, verbose=0)[:, -1, :]  # causal: the last position's next token
        target = probs[np.arange(len(y)), y]
        per_token = cross_entropy(target)
        scores.append({"epoch": epoch + 1, "cross_entropy_per_token": round(per_token, 4),
                       "cross_entropy_per_note": round(per_token * len(val) / val_notes, 4),
                       "per_note_token": round(cross_entropy_per_note(target, notes), 4)})

    started = time.perf_counter()
    # Scored after every epoch: the train stage keeps the best epoch (early stopping), and so does this figure.
    model.fit(training_dataset(train, s["seq_len"], s["batch_size"], windows_per_epoch, s["seed"],
                               every_position=True), epochs=epochs, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=score)])
    seconds = time.perf_counter() - started
    best = min(scores, key=lambda row: row["cross_entropy_per_note"])
    return {"vocabulary": len(vocab), "train_tokens": int(len(train)), "val_tokens": int(len(val)),
            "val_notes": int(val_notes), "tokens_per_note": round(len(val) / val_notes, 3), **best,
            "last_epoch_per_note": scores[-1]["cross_entropy_per_note"], "train_seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-from", type=Path, default=ROOT, help="project whose scrape stage ran (data/raw)")
    parser.add_argument("--genres", nargs="+", default=["celtic", "classical", "folk"])
    parser.add_argument("--pieces", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seq-len", type=int, default=SETTINGS["seq_len"])
    parser.add_argument("--seed", type=int, default=SETTINGS["seed"], help="the split's and the model's seed")
    parser.add_argument("--windows-per-epoch", type=int, default=512)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="which encodings to train (rhythm_merged, the reference, always runs)")
    parser.add_argument("--json", type=Path, default=Layout.of(ROOT).benchmarks / "instruments.json")
    args = parser.parse_args(argv)
    SETTINGS.update(seq_len=args.seq_len, seed=args.seed)
    results = {"settings": {**SETTINGS, "pieces": args.pieces, "epochs": args.epochs,
                            "windows_per_epoch": args.windows_per_epoch}, "genres": {}}
    for name in args.genres:
        files = sorted(Layout.of(args.raw_from).raw(name).glob("*.mid"))
        records = [r for r in map(read_piece_tracks, files[: args.pieces]) if r.get("notes")]
        row = results["genres"][name] = {"pieces": len(records),
                                         "tracks_per_piece": round(np.mean([len(r["tracks"]) for r in records]), 2)}
        others = [v for v in args.variants if v != "rhythm_merged"]
        for variant in ["rhythm_merged", *others]:
            row[variant] = measure(records, variant, args.epochs, args.windows_per_epoch)
            print(name, variant, json.dumps(row[variant]), flush=True)
        base = row["rhythm_merged"]["cross_entropy_per_note"]
        for variant in others:
            row[f"{variant}_minus_merged"] = round(row[variant]["cross_entropy_per_note"] - base, 4)
        print(name, "per note, against rhythm merged:", {v: row[f"{v}_minus_merged"] for v in others}, flush=True)
        write_json(args.json, results)


if __name__ == "__main__":
    main()
