"""Stage generate: compose max(n_samples, eval_samples) pieces per genre in one batch, each primed by a seeded
validation window; render the first n_samples as MIDI, FLAC audio, piano roll and MusicXML with a listening page
(data/generated/<genre>/index.html), and keep every piece's tokens for evaluate (pieces.json)."""
from __future__ import annotations

import dataclasses
import shutil

from tqdm import tqdm

from jukebox.artifacts import read_npy, stage_logger, write_json
from jukebox.encoding import is_note
from jukebox.entrypoint import run_stage
from jukebox.generation import Composer, Sampling, validation_primers
from jukebox.layout import Layout
from jukebox.params import load_params
from jukebox.render import render_sample, write_listening_page


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("generate", genre.name)
    layout = Layout.of()
    composer = Composer.load(layout.model(genre.name))
    val = read_npy(layout.val_tokens(genre.name))
    # Evaluate judges more pieces than anyone listens to: its realness and 8-gram figures moved by 0.1 between
    # runs when they rested on three samples, and composing a batch costs little more than composing one piece.
    count = max(params.n_samples, params.eval_samples)
    primers, starts = validation_primers(val, composer.seq_len, params.seed, count)
    sampling = Sampling.chosen(params)
    # Piece i is composed with seed + i: each its own random stream, as `jukebox generate --seed` would compose it.
    rows = [dataclasses.replace(sampling, seed=sampling.seed + i) for i in range(count)]
    log.info("composing %d pieces, rendering %d (%s encoding): %s", count, params.n_samples, composer.encoding,
             sampling.describe())
    pieces = composer.compose(primers, rows)
    out = layout.generated(genre.name)
    shutil.rmtree(out, ignore_errors=True)
    write_json(out / "pieces.json", [{"seed": row.seed, "primer_start": int(start), "tokens": tokens}
                                     for row, start, tokens in zip(rows, starts, pieces)])
    samples = []
    for i, tokens in enumerate(tqdm(pieces[:params.n_samples], desc=f"render {genre.name}", unit="sample")):
        midi = out / f"sample_{i + 1:02d}.mid"
        composer.write_midi(tokens, midi, genre.program, genre.bpm)
        rendered = render_sample(midi, genre.program, genre.bpm)
        samples.append({
            "name": midi.stem, "file": midi.name, **rendered,
            "n_notes": sum(is_note(t, composer.encoding) for t in tokens), "n_tokens": len(tokens),
            "encoding": composer.encoding, "temperature": rows[i].temperature, "top_k": rows[i].top_k,
            "top_p": rows[i].top_p, "seed": rows[i].seed,
            "primer": f"validation window at token {int(starts[i])}", "primer_start": int(starts[i]),
            "tokens": tokens,
        })
    write_json(out / "samples.json", samples)
    page = write_listening_page(genre.name, samples, out)
    log.info("wrote %d samples to %s; listen: open %s", len(samples), out, page)


if __name__ == "__main__":
    run_stage("generate", main)
