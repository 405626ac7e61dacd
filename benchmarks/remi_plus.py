"""`remi_plus` against `rhythm` on the default genres, side by side in one run: issue 30's per-note cross-entropy.

    nice -n 10 python -m benchmarks.remi_plus [--notes-from PROJECT] [--pieces 120] [--epochs 3]
        [--windows-per-epoch 512] [--json FILE]

For each genre, the parse stage's records (PROJECT/data/notes/<genre>/pieces.jsonl, the default genres' merged
notes: remi_plus reads each as one program-0 track), the first `--pieces` of them, split by piece as the sequences
stage does, encoded both ways (rhythm on its data-built vocabulary with min_count 3, remi_plus on its fixed one).
The same small causal transformer is trained on each for the same windows, then scored on evenly spaced validation
windows. Per note means per note of the validation pieces: the mean token cross-entropy times the tokens the
encoding spends on the validation pieces, divided by their notes (every pitch of a chord a note), so an encoding
that writes more tokens per note pays for each; `per_note_token` is evaluate's figure (loss on note tokens / their
number) for reference. Scored after every epoch; the best epoch is reported (the train stage's early stopping keeps
its best epoch too), with the last epoch's figure beside it.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from jukebox.artifacts import read_jsonl, write_json
from jukebox.dataset import Vocabulary, melody_key, split_pieces, training_dataset, window_starts, windows
from jukebox.encodings import END, get_encoding, piece_tokens
from jukebox.encodings.remi_plus import encode_records
from jukebox.evaluation import cross_entropy, cross_entropy_per_note
from jukebox.layout import Layout

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = dict(seq_len=128, layers=2, units=64, heads=2, token_conv=8, learning_rate=0.003, batch_size=16,
                val_windows=512, min_count=3, seed=42)


def streams(records: list[dict], encoding: str) -> list[list[str]]:
    """Each record's tokens, closed by END, as the sequences stage writes them."""
    coder = get_encoding(encoding)
    if encoding == "remi_plus":
        return encode_records(records, "keep", coder)[0]
    return [piece_tokens(coder, r, "keep") + [END] for r in records]


def measure(records: list[dict], encoding: str, epochs: int, windows_per_epoch: int) -> dict:
    """Train and score one encoding of a genre's pieces."""
    import keras

    from jukebox.model import ModelConfig, build_model

    s = SETTINGS
    coder = get_encoding(encoding)
    tokens = streams(records, encoding)
    train_idx, val_idx = split_pieces(len(tokens), 0.1, s["seed"], [melody_key(r["notes"]) for r in records])
    if encoding == "remi_plus":
        fixed = coder.vocabulary.tokens
        vocab = Vocabulary(tuple(fixed), tuple(1 for _ in fixed))
    else:
        vocab = Vocabulary.build([tokens[i] for i in train_idx], s["min_count"])
    train = np.concatenate([vocab.ids(tokens[i]) for i in train_idx])
    val = np.concatenate([vocab.ids(tokens[i]) for i in val_idx])
    val_notes = sum(len(records[i]["notes"]) for i in val_idx)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes-from", type=Path, default=ROOT, help="project whose parse stage ran (data/notes)")
    parser.add_argument("--genres", nargs="+", default=["celtic", "classical", "folk"])
    parser.add_argument("--pieces", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--windows-per-epoch", type=int, default=512)
    parser.add_argument("--json", type=Path, default=Layout.of(ROOT).benchmarks / "remi_plus.json")
    args = parser.parse_args()
    results = {"settings": {**SETTINGS, "pieces": args.pieces, "epochs": args.epochs,
                            "windows_per_epoch": args.windows_per_epoch}, "genres": {}}
    for name in args.genres:
        records = [r for r in read_jsonl(Layout.of(args.notes_from).pieces(name)) if r.get("notes")][: args.pieces]
        results["genres"][name] = {"pieces": len(records)}
        for encoding in ("rhythm", "remi_plus"):
            results["genres"][name][encoding] = measure(records, encoding, args.epochs, args.windows_per_epoch)
            print(name, encoding, json.dumps(results["genres"][name][encoding]), flush=True)
        rhythm, remi_plus = (results["genres"][name][e]["cross_entropy_per_note"] for e in ("rhythm", "remi_plus"))
        results["genres"][name]["remi_plus_minus_rhythm"] = round(remi_plus - rhythm, 4)
        write_json(args.json, results)


if __name__ == "__main__":
    main()
