"""Stage listen: the listening test's excerpt pairs for a genre, ready for the web app's /listen page.

Each pair is `listen_bars` bars of a held-out (validation) piece and as long a stretch of a composed piece, both
starting on a bar line, decoded through the genre's encoding (so both are quantized alike), played with the genre's
instrument and tempo, cut to the same length and levelled to the same loudness (jukebox/listening.py). The files are
named by a hash of their audio, so that nothing a browser sees tells real from composed; pairs.json knows which is
which and is never served.
"""
from __future__ import annotations

import io
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from jukebox.artifacts import read_jsonl, sha256, stage_logger, write_bytes, write_json
from jukebox.encodings import by_piece, get_encoding, piece_tokens
from jukebox.entrypoint import run_stage
from jukebox.layout import Layout
from jukebox.listening import Excerpt, fit_length, level_pair, matching_excerpts, real_excerpts
from jukebox.midi_io import notes_to_stream, write_midi
from jukebox.params import load_params
from jukebox.render import AUDIO_SETUP, SAMPLE_RATE, audio_tools, write_audio


def render(excerpt: Excerpt, program: int, bpm: float, folder: Path, tools) -> np.ndarray:
    """An excerpt's audio (frames, channels) as FluidSynth plays it, cut or padded to its length in seconds."""
    import soundfile

    midi = folder / f"{len(list(folder.iterdir()))}.mid"
    write_midi(notes_to_stream(excerpt.events, program, bpm, [(0.0, excerpt.meter)]), midi)
    write_audio(midi, midi.with_suffix(".wav"), *tools)
    audio, rate = soundfile.read(midi.with_suffix(".wav"), always_2d=True)
    return fit_length(audio, rate, excerpt.quarters * 60 / bpm)


def flac(audio: np.ndarray) -> bytes:
    """16-bit FLAC bytes of audio in [-1, 1]."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, audio, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    layout = Layout.of(".")
    log = stage_logger("listen", genre.name)
    tools = audio_tools()
    if tools is None:
        raise FileNotFoundError(f"the listening test needs audio: {AUDIO_SETUP}")
    # The encoding and key the model learnt, as the sequences stage recorded them beside the vocabulary.
    vocab = json.loads((layout.sequences(genre.name) / "vocab.json").read_text())
    encoding, key_mode = get_encoding(vocab["encoding"]), vocab.get("key_mode", "keep")
    held_out = set(json.loads((layout.sequences(genre.name) / "split.json").read_text())["validation"])
    real = []
    for record in read_jsonl(layout.pieces(genre.name)):
        if record["piece"] in held_out:
            tokens = piece_tokens(encoding, record, key_mode)
            meters = encoding.meters(tokens) or [tuple(m) for m in record.get("meters", ())]
            real.append((record["piece"], encoding.decode(tokens, params.step), meters))
    samples = []
    for i, piece in enumerate(json.loads((layout.generated(genre.name) / "pieces.json").read_text())):
        # A sample may close a piece (END) and begin another: each is a piece of its own here.
        for j, tokens in enumerate(by_piece(piece["tokens"])):
            samples.append((f"sample seed {piece['seed']} part {j + 1}", encoding.decode(tokens, params.step),
                            encoding.meters(tokens)))
    rng = np.random.default_rng(params.seed)
    pairs = matching_excerpts(real_excerpts(real, params.listen_bars, params.listen_pairs, rng), samples,
                              params.listen_bars, rng)
    log.info("%d pairs of %d bars from %d held-out pieces and %d samples (%d asked for)", len(pairs),
             params.listen_bars, len(real), len(samples), params.listen_pairs)
    if not pairs:
        # Not an error: the genre's pipeline (an uploaded collection's job) still succeeds, and /listen says why.
        log.warning("no excerpt of listen_bars = %d bars fits both a held-out piece and a sample; lower listen_bars "
                    "or raise n_notes in params.yaml for a listening test", params.listen_bars)
    out = layout.listening(genre.name)
    shutil.rmtree(out, ignore_errors=True)
    table = []
    with tempfile.TemporaryDirectory(prefix="listen-") as scratch:
        for real_excerpt, sample_excerpt in tqdm(pairs, desc=f"listen {genre.name}", unit="pair"):
            audio = level_pair(*(render(e, genre.program, genre.bpm, Path(scratch), tools)
                                 for e in (real_excerpt, sample_excerpt)))
            ids = []
            for excerpt in audio:
                data = flac(excerpt)
                ids.append(sha256(data)[:16])
                write_bytes(out / f"{ids[-1]}.flac", data)
            table.append({"pair": sha256(f"{ids[0]}:{ids[1]}".encode())[:12], "real": ids[0], "generated": ids[1],
                          "real_from": real_excerpt.origin, "generated_from": sample_excerpt.origin,
                          "bars": params.listen_bars, "meter": real_excerpt.meter,
                          "seconds": round(real_excerpt.quarters * 60 / genre.bpm, 2)})
    write_json(out / "pairs.json", {"genre": genre.name, "program": genre.program, "bpm": genre.bpm,
                                    "pairs": table})
    log.info("wrote %d pairs to %s", len(table), out)


if __name__ == "__main__":
    run_stage("listen", main)
