"""Judging a genre's model and its composed pieces: against the held-out music (statistics, originality, realness)
and on passages heard twice. What the evaluate stage writes, and what the benchmarks judge other settings with."""
from __future__ import annotations

import csv
import io
import json

import numpy as np

from .artifacts import read_jsonl, read_npy
from .bars import piece_notes
from .dataset import window_starts
from .encodings import by_piece, decode, encode, group_onsets
from .evaluation import (
    COPY_N,
    PITCH_CLASSES,
    cross_entropy,
    heard_again_windows,
    musical_statistics,
    ngram_set,
    onset_ngram_ratios,
    originality,
    pitch_class_histogram,
)
from .generation import Composer
from .layout import Layout
from .model import SCORING_BATCH
from .realness import realness

HEARD_AGAIN_WINDOWS = 256  # targets scored twice, first hearing and second


def heard_again(composer: Composer, val, params) -> dict | None:
    """The model's loss on validation passages heard the first time and right after hearing them once (None when
    the validation tokens are too short): whether it has learned to restate what it has just heard."""
    cut = heard_again_windows(val, composer.seq_len, HEARD_AGAIN_WINDOWS, params.seed)
    if cut is None:
        return None
    first, again, targets = cut
    rows = np.arange(len(targets))
    loss = {name: cross_entropy(composer.model.predict(x, batch_size=SCORING_BATCH, verbose=0)[rows, targets])
            for name, x in (("first", first), ("again", again))}
    return {**loss, "windows": len(targets)}


def judge(composer: Composer, generated_tokens: list[list[str]], layout: Layout, genre: str, seed: int, log) -> dict:
    """Composed pieces (token lists) against the genre's held-out pieces: musical statistics, originality and
    realness (the evaluate.json sections of those names), and the pitch-class plot's CSV. The sampling benchmark
    judges other settings' pieces with it, exactly as the evaluate stage judges the generate stage's."""
    seq_dir = layout.sequences(genre)
    train, val = read_npy(seq_dir / "train.npy"), read_npy(seq_dir / "val.npy")
    # Judged piece by piece, as the held-out music is: a sample that closes a piece and begins another is two.
    parts = [part for tokens in generated_tokens for part in by_piece(tokens)]
    generated = [decode(part, composer.encoding, composer.step) for part in parts]
    held_out_names = set(json.loads((seq_dir / "split.json").read_text())["validation"])
    pieces = [p for p in read_jsonl(layout.pieces(genre)) if p["piece"] in held_out_names]
    # Under key_mode c the model learnt, and composes, every piece in C: the held-out side is moved there too.
    held_out_notes = [piece_notes(p, composer.key_mode)[0] for p in pieces]
    held_out = [group_onsets(notes) for notes in held_out_notes]
    log.info("judging %d composed pieces (%d samples) against %d held-out pieces", len(generated),
             len(generated_tokens), len(held_out))
    generated_ids = [composer.vocab.ids(tokens) for tokens in generated_tokens]
    # Held-out reference for the token statistics: as many stretches of val.npy as samples, each exactly as long as
    # its sample, because n-gram ratios fall as a sequence grows (a 500-note sample against a 60-note tune would
    # compare lengths, not music).
    length = min(max(len(t) for t in generated_ids), len(val) - 1)
    reference_ids = [val[s:s + min(len(g), length)]
                     for s, g in zip(window_starts(len(val), length, len(generated_ids)), generated_ids)]
    # Bar lines for notes per bar and strong beats: the samples' own meters and the pieces' as parsed (remi). An
    # encoding that writes no bars composes no meter, and its samples are counted in 4/4 from their first note: the
    # held-out pieces then are too, or a folk song in 2/4 would be set against a sample in 4/4.
    meters = [composer.encoder.meters(part) for part in parts]
    music = musical_statistics(generated, held_out, generated_ids, reference_ids, meters,
                               [p.get("meters", ()) for p in pieces] if any(meters) else None)
    training_ngrams = ngram_set(train, COPY_N)
    structure = {"generated": {**originality(generated_ids, train, training_ngrams), **onset_ngram_ratios(generated)},
                 "held_out": {**originality(reference_ids, train, training_ngrams), **onset_ngram_ratios(held_out)}}
    log.info("samples vs held-out: musical overlap %.2f, distinct 8-grams %.3f (held-out %.3f), copy rate %.2f "
             "(held-out %.2f), longest copy %d", music["overlap_mean"], structure["generated"]["distinct_8grams"],
             structure["held_out"]["distinct_8grams"], structure["generated"]["copy_rate"],
             structure["held_out"]["copy_rate"], structure["generated"]["longest_copy"])
    # The real side goes through the encoding and back, as the samples did, so the classifier judges the music the
    # model could have learnt, not what the encoding drops (rhythm under `pitch`, off-grid timing under `rhythm`).
    real = [decode(encode(notes, composer.encoding), composer.encoding, composer.step) for notes in held_out_notes]
    instruments, extra = None, None
    if composer.multitrack and pieces and all("tracks" in p for p in pieces):
        # A genre that keeps its instruments: which ones play, how much, the drums' patterns and each voice's range.
        from .encodings.base import record_piece
        from .instruments import family_shares, instrument_statistics

        generated_tracks = [composer.encoder.decode_piece(part) for part in parts]
        held_out_tracks = [record_piece(p, composer.key_mode) for p in pieces]
        samples = [composer.encoder.decode_piece(tokens) for tokens in generated_tokens]
        instruments = instrument_statistics(generated_tracks, held_out_tracks, samples)
        extra = ([family_shares(p) for p in generated_tracks], [family_shares(p) for p in held_out_tracks])
        log.info("instruments: set overlap %s, ranges %s, drum onsets %s; %.2f of the samples play %s (the "
                 "instruments of most real pieces)", instruments["instrument_set_overlap"],
                 instruments["range_overlap"], instruments["drum_onset_overlap"],
                 instruments["samples_with_regular_instruments"], ", ".join(instruments["regular_instruments"]))
    real_test = realness(generated, real, seed, instruments=extra)
    log.info("samples vs held-out: distinct 8-onset n-grams %.3f (held-out %.3f), 16-onset %.3f (held-out %.3f)",
             structure["generated"]["distinct_8onsets"], structure["held_out"]["distinct_8onsets"],
             structure["generated"]["distinct_16onsets"], structure["held_out"]["distinct_16onsets"])
    log.info("realness: a classifier tells generated from held-out stretches with accuracy %s (95%% interval %s to "
             "%s; %d stretches each)", real_test["classifier_accuracy"], real_test["low"], real_test["high"],
             real_test["stretches"])
    return {"music": music, "originality": structure, "realness": real_test, "instruments": instruments,
            "pitch_classes": pitch_class_table(pitch_class_histogram(generated), pitch_class_histogram(held_out))}


def pitch_class_table(generated, held_out) -> str:
    """CSV rows (pitch_class, source, share) for the DVC bar chart of generated against held-out music."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["pitch_class", "source", "share"])
    for source, shares in (("generated", generated), ("held-out", held_out)):
        writer.writerows((pc, source, round(float(s), 4)) for pc, s in zip(PITCH_CLASSES, shares))
    return buffer.getvalue()

