"""Samples: a genre's pieces composed from primers, each written as MIDI in its primer's key, with its record.

The one compose path of the generate stage, `jukebox generate` and the web app: `compose` chooses the primers
(choose_primers, reading a primer file with jukebox.primers), composes them in one batch (Composer.compose, which
hands back tokens) and hands back Pieces; `Piece.write` writes one as MIDI (jukebox.midi_io), renders it and returns
its sample record (what samples.json and the app's sample.json hold). The web app's batcher runs the same three
steps itself, so that the requests arriving together share one batch.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .artifacts import read_npy
from .generation import Composer, Sampling, validation_primers
from .layout import Layout
from .midi_io import notes_to_stream, write_midi, write_tracks
from .params import Genre
from .primers import primer_of, read_primer


@dataclass(frozen=True)
class Primer:
    """Where a piece begins: its window of token ids and how its sample record names it."""

    window: np.ndarray  # seq_len ids, ending where the new music begins
    described: str  # "validation window at token 123" or "opening of tune.mid"
    start: int | None = None  # a validation window's first token in val.npy; None for a MIDI file's opening
    shift: int = 0  # semitones the primer was moved to be read in the genre's key (key_mode c), undone on writing


def choose_primers(composer: Composer, val_tokens: str | Path, seed: int, count: int = 1,
                   primer: str | Path | None = None, record: dict | None = None) -> list[Primer]:
    """`count` primers: the opening of the MIDI file `primer` (`record`: already read by primers.read_primer, as the
    web app reads it in a time-limited pool), else validation windows of the genre's val.npy chosen by the seed.

    A multi-track genre reads the primer with its tracks, each keeping its instrument. Raises ValueError naming the
    primer when it cannot be read or has no notes this genre knows.
    """
    if primer is None:
        windows, starts = validation_primers(read_npy(val_tokens), composer.seq_len, seed, count)
        return [Primer(window, f"validation window at token {int(start)}", int(start))
                for window, start in zip(windows, starts)]
    if record is None:
        record = read_primer(primer, composer.seq_len, tracks=composer.multitrack)
    window, shift = primer_of(composer, record, primer)
    return [Primer(window, f"opening of {primer}", None, shift)] * count


@dataclass(frozen=True)
class Piece:
    """One composed piece: its tokens, the primer it continues and the settings it was composed with."""

    composer: Composer
    genre: Genre
    tokens: list[str]
    primer: Primer
    sampling: Sampling

    @property
    def is_multitrack(self) -> bool:
        """Whether it is written one track per instrument: a genre with instruments keep on a multi-track encoding."""
        return self.genre.instruments == "keep" and self.composer.multitrack

    @property
    def n_notes(self) -> int:
        """The notes (and chords) among its tokens."""
        return sum(self.composer.encoder.is_note(t) for t in self.tokens)

    def write(self, midi: str | Path, render: bool = True, later: bool = False, soundfont: str | Path | None = None,
              with_tokens: bool = False) -> dict:
        """Write the piece as MIDI in its primer's key, render it beside (render.render_sample; `later`: only name
        the files render_later writes) and return its sample record, with its tokens if `with_tokens`."""
        from .render import render_sample

        midi = Path(midi)
        genre, sampling = self.genre, self.sampling
        tracks = self.is_multitrack
        if tracks:  # one MIDI track per instrument, drums on channel 10, each keeping its own program
            tokens = self.composer.encoder.continued(self.composer.vocab.decode(self.primer.window), self.tokens)
            write_tracks(self.composer.piece_tracks(tokens, genre.bpm, -self.primer.shift, sampling.instruments,
                                                    genre.program), midi)
        else:
            events = self.composer.events(self.tokens, -self.primer.shift)
            write_midi(notes_to_stream(events, genre.program, genre.bpm, self.composer.encoder.meters(self.tokens)),
                       midi)
        rendered = (render_sample(midi, genre.program, genre.bpm, soundfont, later=later, tracks=tracks) if render
                    else {"files": {"midi": midi.name}})
        record = {"name": midi.stem, "file": midi.name, **rendered, "n_notes": self.n_notes,
                  "n_tokens": len(self.tokens), "encoding": self.composer.encoding,
                  "temperature": sampling.temperature, "top_k": sampling.top_k, "top_p": sampling.top_p,
                  "seed": sampling.seed, "primer": self.primer.described}
        if sampling.instruments:
            record["instruments_asked"] = list(sampling.instruments)
        if self.primer.start is not None:
            record["primer_start"] = self.primer.start
        if with_tokens:
            record["tokens"] = self.tokens
        return record


def numbered(sampling: Sampling, count: int) -> list[Sampling]:
    """The settings of `count` pieces: piece i is composed with seed + i, each its own random stream, as
    `jukebox generate --seed <seed + i>` composes it alone."""
    return [dataclasses.replace(sampling, seed=sampling.seed + i) for i in range(count)]


def compose(layout: Layout, genre: Genre, sampling: Sampling, primer: str | Path | None = None, count: int = 1,
            composer: Composer | None = None) -> list[Piece]:
    """`count` pieces of a genre in one batch, continuing the MIDI file `primer`'s opening or, without one,
    validation windows chosen by the seed; piece i is composed with seed + i. The genre's model is loaded from
    the layout unless `composer` is given."""
    return next(compose_in_batches(layout, genre, sampling, primer, count, count, composer))


def compose_in_batches(layout: Layout, genre: Genre, sampling: Sampling, primer: str | Path | None = None,
                       count: int = 1, first: int = 1, composer: Composer | None = None) -> Iterator[list[Piece]]:
    """compose's `count` pieces as two batches: the first `first` pieces, then the rest.

    Each row composes what it would in any batch, so the pieces are compose's; the first can be written (and
    listened to) while the rest are composed.
    """
    composer = composer or Composer.load(layout.model(genre.name))
    primers = choose_primers(composer, layout.val_tokens(genre.name), sampling.seed, count, primer)
    rows = numbered(sampling, count)
    for batch in (slice(0, first), slice(first, count)):
        if rows[batch]:
            tokens = composer.compose(np.stack([p.window for p in primers[batch]]), rows[batch])
            yield [Piece(composer, genre, *piece) for piece in zip(tokens, primers[batch], rows[batch])]
