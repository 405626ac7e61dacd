"""Composing on request: the steps of `jukebox generate`, with each genre's model kept loaded between requests."""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..app_genres import STATE_DIR
from ..artifacts import read_npy, write_json
from ..dataset import window_starts, windows
from ..params import Genre

SAMPLE_ID_LENGTH = 12


@dataclass(frozen=True)
class Request:
    """What the Generate page and POST /api/generate ask for (already checked against the limits)."""

    genre: Genre
    n_notes: int
    temperature: float
    top_k: int
    top_p: float
    seed: int
    primer: Path | None = None  # a MIDI file whose opening starts the piece
    primer_name: str = ""


class Studio:
    """Loads each genre's Composer once (again after retraining) and composes one sample per request."""

    def __init__(self, project: Path):
        self.project = project
        self.samples_dir = project / STATE_DIR / "samples"
        self._composers: dict[str, tuple[float, object]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _composer(self, genre: str):
        from ..generation import Composer

        model_dir = self.project / "models" / genre
        stamp = (model_dir / "model.keras").stat().st_mtime
        cached = self._composers.get(genre)
        if cached is None or cached[0] != stamp:
            self._composers[genre] = (stamp, Composer.load(model_dir))
        return self._composers[genre][1]

    def _lock(self, genre: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(genre, threading.Lock())

    def compose(self, request: Request) -> dict:
        """Compose, write and render one sample; returns its record (the fields of samples.json, plus `id`)."""
        from ..encoding import is_note
        from ..render import render_sample

        name = request.genre.name
        # One generation at a time per model: Keras models are not meant to be called from many threads at once,
        # and two at once on a laptop's cores would only take turns anyway.
        with self._lock(name):
            composer = self._composer(name)
            if request.primer is not None:
                primer = composer.primer(request.primer)[None, :]
                primer_text = f"opening of {request.primer_name or request.primer.name}"
            else:
                # As `jukebox generate` does: a validation window chosen by the seed.
                val = read_npy(self.project / "data" / "sequences" / name / "val.npy")
                start = np.random.default_rng(request.seed).choice(window_starts(len(val), composer.seq_len, len(val)))
                primer, _ = windows(val, np.array([start]), composer.seq_len)
                primer_text = f"validation window at token {int(start)}"
            tokens = composer.compose(primer, request.n_notes, request.temperature, request.seed, request.top_k,
                                      request.top_p)[0]
        sample_id = uuid.uuid4().hex[:SAMPLE_ID_LENGTH]
        folder = self.samples_dir / sample_id
        midi = folder / f"{name}_{sample_id}.mid"
        composer.write_midi(tokens, midi, request.genre.program, request.genre.bpm,
                            -composer.primer_shift(request.primer) if request.primer is not None else 0)
        rendered = render_sample(midi, request.genre.program, request.genre.bpm)
        record = {"id": sample_id, "genre": name, "name": midi.stem, "file": midi.name, **rendered,
                  "n_notes": sum(is_note(t, composer.encoding) for t in tokens), "n_tokens": len(tokens),
                  "encoding": composer.encoding, "temperature": request.temperature, "top_k": request.top_k,
                  "top_p": request.top_p, "seed": request.seed, "primer": primer_text}
        write_json(folder / "sample.json", record)
        return record
