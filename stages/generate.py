"""Stage generate: compose n_samples pieces per genre, each primed by a seeded validation window."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

from jukebox.artifacts import read_npy, stage_logger, write_json
from jukebox.generation import Composer
from jukebox.dataset import window_starts, windows
from jukebox.params import load_params


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("generate", genre.name)
    composer = Composer.load(Path("models") / genre.name)
    val = read_npy(Path("data/sequences") / genre.name / "val.npy")
    rng = np.random.default_rng(params.seed)
    starts = rng.choice(window_starts(len(val), composer.seq_len, len(val)), size=params.n_samples)
    primers, _ = windows(val, starts, composer.seq_len)
    log.info("composing %d samples of %d notes at temperature %s", params.n_samples, params.n_notes, params.temperature)
    pieces = composer.compose(primers, params.n_notes, params.temperature, params.seed)
    out = Path("data/generated") / genre.name
    shutil.rmtree(out, ignore_errors=True)
    samples = []
    for i, tokens in enumerate(pieces):
        path = out / f"sample_{i + 1:02d}.mid"
        composer.write_midi(tokens, path)
        samples.append({"file": path.name, "primer_start": int(starts[i]), "n_notes": len(tokens),
                        "temperature": params.temperature, "seed": params.seed, "tokens": tokens})
    write_json(out / "samples.json", samples)
    log.info("wrote %d samples to %s", len(samples), out)


if __name__ == "__main__":
    main(sys.argv[1])
