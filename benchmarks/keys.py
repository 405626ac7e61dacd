"""Which keys does a genre's model begin its songs in, against the genre's own songs?

    python -m benchmarks.keys [GENRE ...] [--project .] [--json FILE]

For each genre after `dvc repro`:
- the songs the model began itself (what follows the first <end> of each of the generate stage's samples) and the
  held-out songs, each given music21's key (jukebox.midi_io.estimate_key): the share of songs in each key on both
  sides, their overlap (1 = the same keys, as often), and the share of notes on the black keys;
- the pitch classes the model predicts for a song's first note, right after each <end> in the validation windows,
  against the first notes of the training songs, and their overlap (skipped where pieces open with an instrument).
Folk's realness went this way (docs/experiments/2026-12-07-folk-keys.md): a classifier told its samples by their
pitch classes, because new songs began in keys Essen's songs are rarely in.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from jukebox.artifacts import read_jsonl, read_npy
from jukebox.bars import Event, piece_notes
from jukebox.encodings import END, by_piece, decode, group_onsets
from jukebox.layout import Layout
from jukebox.params import load_params

BLACK_KEYS = (1, 3, 6, 8, 10)


def begun_songs(tokens: Sequence[str]) -> list[list[str]]:
    """The songs of a sample that the model began itself: every piece after the sample's first END."""
    return by_piece(tokens[list(tokens).index(END) + 1:]) if END in tokens else []


def key_shares(songs: Sequence[Sequence[Event]]) -> dict[str, float]:
    """Share of songs in each key, by music21's key analysis of each song's notes (songs without notes left out)."""
    from jukebox.midi_io import estimate_key

    keys = Counter(estimate_key([(on, dur, p) for on, dur, ps in song for p in ps]) for song in songs if song)
    total = sum(keys.values())
    return {key: n / total for key, n in keys.most_common()} if total else {}


def overlap(a: dict, b: dict) -> float:
    """Histogram overlap: the summed minimum of two share tables (1 = the same)."""
    return float(sum(min(a.get(k, 0.0), b.get(k, 0.0)) for k in set(a) | set(b)))


def black_key_share(songs: Sequence[Sequence[Event]]) -> float:
    pitches = np.array([p for song in songs for _, _, ps in song for p in ps], dtype=np.int64)
    return float(np.isin(pitches % 12, BLACK_KEYS).mean()) if len(pitches) else 0.0


def first_note_classes(model, tokens: Sequence[str], encoding: str, val: np.ndarray, train: np.ndarray,
                       seq_len: int) -> dict:
    """The model's pitch-class mass for the token after each END of the validation stream that a full window
    precedes, against the pitch classes of the training songs' first notes."""
    from jukebox.model import SCORING_BATCH

    classes = np.full(len(tokens), -1)
    for i, token in enumerate(tokens):
        events = decode([token], encoding) if token != END else []
        if len(events) == 1 and len(events[0][2]) == 1:
            classes[i] = events[0][2][0] % 12
    end = tokens.index(END)
    ends = np.flatnonzero(val == end)
    ends = ends[(ends >= seq_len - 1) & (ends < len(val) - 1)]
    train_first = classes[train[np.flatnonzero(train == end)[:-1] + 1]]
    real = np.bincount(train_first[train_first >= 0], minlength=12).astype(float)
    if not real.sum():  # a multi-track encoding opens a piece with its instrument, not a note
        return {"windows": 0, "training": None, "skipped": "the training pieces do not open with a note token"}
    result = {"windows": int(len(ends)), "training": (real / real.sum()).round(4).tolist()}
    if len(ends):
        probs = model.predict(np.stack([val[i - seq_len + 1:i + 1] for i in ends]), batch_size=SCORING_BATCH,
                              verbose=0)
        mass = np.array([probs[:, classes == k].sum() for k in range(12)])
        result["model"] = (mass / max(mass.sum(), 1e-12)).round(4).tolist()
        result["overlap"] = round(float(np.minimum(result["model"], result["training"]).sum()), 4)
    return result


def measure(project: Path, genre: str) -> dict:
    from jukebox.generation import Composer

    layout = Layout.of(project)
    composer = Composer.load(layout.model(genre))
    seq_dir = layout.sequences(genre)
    composed = json.loads((layout.generated(genre) / "pieces.json").read_text())
    begun = [decode(song, composer.encoding, composer.step) for piece in composed
             for song in begun_songs(piece["tokens"])]
    held_names = set(json.loads((seq_dir / "split.json").read_text())["validation"])
    held_out = [group_onsets(piece_notes(record, composer.key_mode)[0])
                for record in read_jsonl(layout.pieces(genre)) if record["piece"] in held_names]
    generated_keys, held_keys = key_shares(begun), key_shares(held_out)
    return {"genre": genre, "songs": {"begun": len(begun), "held_out": len(held_out)},
            "keys": {"begun": generated_keys, "held_out": held_keys},
            "key_overlap": round(overlap(generated_keys, held_keys), 4),
            "black_keys": {"begun": round(black_key_share(begun), 4), "held_out": round(black_key_share(held_out), 4)},
            "first_note": first_note_classes(composer.model, list(composer.vocab.tokens), composer.encoding,
                                             read_npy(seq_dir / "val.npy"), read_npy(seq_dir / "train.npy"),
                                             composer.seq_len)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("genres", nargs="*")
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    genres = args.genres or list(load_params(args.project / "params.yaml").genres)
    results = []
    for genre in genres:
        r = measure(args.project, genre)
        results.append(r)
        begun, held = r["keys"]["begun"], r["keys"]["held_out"]
        print(f"{genre}: {r['songs']['begun']} songs the model began, {r['songs']['held_out']} held-out songs; "
              f"key overlap {r['key_overlap']:.3f}; notes on black keys {r['black_keys']['begun']:.3f} "
              f"(held-out {r['black_keys']['held_out']:.3f})")
        print(f"  {'key':<10}{'begun':>8}{'held-out':>10}")
        for key in sorted(set(begun) | set(held), key=lambda k: -held.get(k, 0) - begun.get(k, 0))[:12]:
            print(f"  {key:<10}{begun.get(key, 0):>8.3f}{held.get(key, 0):>10.3f}")
        first = r["first_note"]
        if "skipped" in first:
            print(f"  first note after <end>: skipped ({first['skipped']})")
        elif "model" in first:
            names = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
            print(f"  first note after <end> ({first['windows']} windows), overlap {first['overlap']:.3f}")
            print("  " + " ".join(f"{n:>5}" for n in names))
            print("  " + " ".join(f"{v:>5.2f}" for v in first["model"]) + "  model")
            print("  " + " ".join(f"{v:>5.2f}" for v in first["training"]) + "  training songs")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
