"""Stage generate: compose max(n_samples, eval_samples) pieces per genre, each primed by a seeded validation window;
render the first n_samples (composed first, in a batch of their own) as MIDI, FLAC audio, piano roll and MusicXML
with a listening page (data/generated/<genre>/index.html), and keep every piece's tokens for evaluate
(pieces.json)."""
from __future__ import annotations

import shutil

from tqdm import tqdm

from jukebox.artifacts import stage_logger, write_json
from jukebox.entrypoint import run_stage
from jukebox.generation import Composer, Sampling
from jukebox.layout import Layout
from jukebox.params import load_params
from jukebox.render import write_listening_page
from jukebox.samples import compose_in_batches


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("generate", genre.name)
    layout = Layout.of()
    composer = Composer.load(layout.model(genre.name))
    # Evaluate judges more pieces than anyone listens to: its realness and 8-gram figures moved by 0.1 between
    # runs when they rested on three samples, and composing a batch costs little more than composing one piece.
    count = max(params.n_samples, params.eval_samples)
    sampling = Sampling.chosen(params)
    log.info("composing %d pieces, rendering %d (%s encoding): %s", count, params.n_samples, composer.encoding,
             sampling.describe())
    # The pieces to listen to are composed and written first: a collection's first sample is heard sooner.
    batches = compose_in_batches(layout, genre, sampling, count=count, first=params.n_samples, composer=composer)
    pieces = next(batches)
    out = layout.generated(genre.name)
    shutil.rmtree(out, ignore_errors=True)
    samples = [piece.write(out / f"sample_{i + 1:02d}.mid", with_tokens=True)
               for i, piece in enumerate(tqdm(pieces, desc=f"render {genre.name}", unit="sample"))]
    write_json(out / "samples.json", samples)
    page = write_listening_page(genre.name, samples, out)
    log.info("wrote %d samples to %s; listen: open %s", len(samples), out, page)
    pieces += [piece for batch in batches for piece in batch]
    write_json(out / "pieces.json", [{"seed": piece.sampling.seed, "primer_start": piece.primer.start,
                                      "tokens": piece.tokens} for piece in pieces])
    log.info("composed %d more pieces for evaluate: %s", len(pieces) - len(samples), out / "pieces.json")


if __name__ == "__main__":
    run_stage("generate", main)
