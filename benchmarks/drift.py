"""Does a composed piece stay in its register? Mean pitch over a continuation, composed against real.

    nice -n 10 python -m benchmarks.drift --project DIR [GENRE ...] [--pieces 24] [--n-notes 300] [--json FILE]

For each genre with a trained model in DIR (a project after `dvc repro`), `--pieces` validation windows are each
continued twice: by the model (params.yaml's sampling settings, seeds from seed + 1000) and by what really follows
them in the held-out pieces (as many onsets as the composed one). Both are cut into thirds, and the mean of each
onset's highest pitch (MIDI numbers) is printed per third, after the primer's own: a model that keeps its register
stays level where the real music does. Then, from the held-out pieces as they follow each other in val.npy: how
much of one piece's register the model carries into its guess of the next piece's first pitch, against the real
pieces (a causal model's whole forward pass, no sampling).
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

from jukebox.artifacts import read_npy, write_json
from jukebox.dataset import window_starts
from jukebox.encodings import END, decode
from jukebox.generation import Composer, Sampling
from jukebox.layout import Layout
from jukebox.params import load_params

SEED_OFFSET = 1000


def tops(composer: Composer, ids) -> np.ndarray:
    """Each onset's highest pitch, in order."""
    return np.array([max(pitches) for _, _, pitches in decode(composer.vocab.decode(ids), composer.encoding,
                                                               composer.step) if pitches], dtype=float)


def thirds(pitches: list[np.ndarray]) -> list[float]:
    """Mean pitch of each third of every piece's onsets, over the pieces."""
    return [float(np.mean([p[i * (len(p) // 3):(i + 1) * (len(p) // 3)].mean() for p in pitches])) for i in range(3)]


def measure(project: Path, genre: str, pieces: int, n_notes: int) -> dict:
    layout = Layout.of(project)
    params = load_params(layout.params)
    composer = Composer.load(layout.model(genre))
    val = read_npy(layout.val_tokens(genre))
    # Real continuations need room: primers start early enough for n_notes real notes to follow (about
    # tokens_per_note tokens each), evenly spaced over the held-out pieces.
    room = int(np.ceil(n_notes * composer.tokens_per_note() * 1.2))
    starts = window_starts(len(val) - 2 * room, composer.seq_len, pieces)
    primers = np.stack([val[s:s + composer.seq_len] for s in starts])
    rows = [Sampling.chosen(params, n_notes=n_notes, seed=params.seed + SEED_OFFSET + r) for r in range(len(starts))]
    composed = [tops(composer, composer.vocab.ids(tokens)) for tokens in composer.compose(primers, rows)]
    # As many onsets of the real continuation as its composed twin has (a chord is one onset of several notes).
    real = [tops(composer, val[s + composer.seq_len:s + composer.seq_len + 2 * room])[:len(c)]
            for s, c in zip(starts, composed)]
    return {"genre": genre, "pieces": len(starts), "sampling": rows[0].describe(),
            "primer": float(np.mean([tops(composer, p).mean() for p in primers])),
            "composed": thirds(composed), "real": thirds(real), **carried(composer, val)}


def carried(composer: Composer, val: np.ndarray) -> dict:
    """How much of one held-out piece's register the model carries into the next: the slope of its expected first
    pitch of a piece on the mean pitch of the piece before, against the same slope in the real pieces.

    Held-out pieces follow each other in val.npy, each closed by END; each boundary is read in a window that holds
    three quarters of a window of the piece before.
    """
    from jukebox.model import build_model

    # A project sequenced before pieces were closed by END: its boundaries cannot be found.
    if not composer.config.causal or END not in composer.vocab.tokens:
        return {}
    bounds = np.concatenate([[0], np.flatnonzero(val == composer.vocab.tokens.index(END)) + 1])
    pitch = np.array([np.nan if not len(t := tops(composer, [i])) else t.max() for i in range(len(composer.vocab))])
    before = composer.seq_len * 3 // 4
    cases = [(bounds[k - 1], b) for k, b in enumerate(bounds[1:-1], 1)
             if b - before >= 0 and b + composer.seq_len - before <= len(val)]
    if len(cases) < 3:
        return {}
    model = build_model(len(composer.vocab), composer.config, every_position=True)
    model.set_weights(composer.model.get_weights())
    x = np.stack([val[b - before:b - before + composer.seq_len] for _, b in cases])
    probs = model.predict(x, batch_size=32, verbose=0)
    notes = ~np.isnan(pitch)
    previous, expected, actual = [], [], []
    for row, (start, b) in enumerate(cases):
        first = next((i for i in range(before, composer.seq_len) if notes[x[row, i]]), None)
        if first is None:
            continue
        p = probs[row, first - 1, notes]
        previous.append(np.nanmean(pitch[val[start:b]]))
        expected.append(float((p * pitch[notes]).sum() / p.sum()))
        actual.append(pitch[x[row, first]])
    return {"boundaries": len(previous), "carried_model": float(np.polyfit(previous, expected, 1)[0]),
            "carried_real": float(np.polyfit(previous, actual, 1)[0])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.drift", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("genres", nargs="*", help="genres to measure (default: every genre with a trained model)")
    parser.add_argument("--project", type=Path, default=Path("."), help="project folder after dvc repro")
    parser.add_argument("--pieces", type=int, default=24, help="validation windows continued per genre")
    parser.add_argument("--n-notes", type=int, default=300, help="notes per continuation")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    genres = args.genres or sorted(p.name for p in Layout.of(args.project).models.iterdir() if p.is_dir())
    print("mean highest pitch (MIDI) of the primers, then of each third of the continuations")
    print(f"{'genre':10}{'primer':>8}  {'composed, by thirds':24}  {'real, by thirds':24}  composed - real")
    rows = []
    for genre in genres:
        row = measure(args.project, genre, args.pieces, args.n_notes)
        rows.append(row)
        composed, real = row["composed"], row["real"]
        print(f"{genre:10}{row['primer']:8.1f}  {' '.join(f'{v:7.1f}' for v in composed):24}  "
              f"{' '.join(f'{v:7.1f}' for v in real):24}  {' '.join(f'{c - r:+5.1f}' for c, r in zip(composed, real))}")
    print("register carried from one held-out piece into the next (slope of the first pitch on the mean pitch of the "
          "piece before; 0 = unrelated)")
    for row in rows:
        if "carried_model" in row:
            print(f"{row['genre']:10}model {row['carried_model']:+.2f}, real {row['carried_real']:+.2f} "
                  f"({row['boundaries']} boundaries)")
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
