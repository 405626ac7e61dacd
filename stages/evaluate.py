"""Stage evaluate: the model's predictions against n-gram baselines, and its samples against held-out music."""
from __future__ import annotations

import csv
import io
import json

import numpy as np

from jukebox.artifacts import read_jsonl, read_npy, stage_logger, write_json, write_text
from jukebox.bars import piece_notes
from jukebox.dataset import window_starts, windows
from jukebox.encoding import by_piece, decode, encode, group_onsets, is_note
from jukebox.entrypoint import run_stage
from jukebox.evaluation import (
    COPY_N,
    PITCH_CLASSES,
    baseline_scores,
    cross_entropy,
    heard_again_windows,
    musical_statistics,
    ngram_set,
    originality,
    pitch_class_histogram,
    prediction_scores,
    repeated_targets,
)
from jukebox.generation import Composer
from jukebox.layout import Layout
from jukebox.params import load_params
from jukebox.realness import realness

HEARD_AGAIN_WINDOWS = 256  # targets scored twice, first hearing and second


def main(genre_name: str) -> None:
    params = load_params()
    genre = params.genre(genre_name)
    log = stage_logger("evaluate", genre.name)
    layout = Layout.of()
    composer = Composer.load(layout.model(genre.name))
    seq_dir = layout.sequences(genre.name)
    train, val = read_npy(seq_dir / "train.npy"), read_npy(seq_dir / "val.npy")
    vocab_size = len(composer.vocab)

    # The same validation windows the train stage scored, so perplexity here matches its val_loss.
    starts = window_starts(len(val), composer.seq_len, params.val_windows)
    x, targets = windows(val, starts, composer.seq_len)
    log.info("scoring %d validation windows, vocabulary %d", len(targets), vocab_size)
    # Model and n-gram are scored on these same targets; the notes among them divide their summed losses.
    target_is_note = np.array([is_note(t, composer.encoding) for t in composer.vocab.tokens])[targets]
    # Targets that continue a passage heard earlier in their window: the model's loss there, against the n-gram's,
    # shows whether it restates what it has heard (a phrase's repeat) or only what it has counted.
    repeated = repeated_targets(x, targets)
    model = prediction_scores(composer.model.predict(x, batch_size=params.batch_size, verbose=0), targets,
                              target_is_note, repeated)
    baselines = baseline_scores(train, val, starts + composer.seq_len, vocab_size, model["perplexity"],
                                target_is_note, repeated=repeated)
    log.info("perplexity: model %.2f, %d-gram %.2f, unigram %.2f; nats per note: model %.3f, n-gram %.3f",
             model["perplexity"], baselines["ngram_n"], baselines["ngram_perplexity"],
             baselines["unigram_perplexity"], model["cross_entropy_per_note"],
             baselines["ngram_cross_entropy_per_note"])
    log.info("on the %.0f%% of targets that continue a passage heard earlier in the window: model %s nats, "
             "n-gram %s", 100 * model["repeated_share"], _nats(model["cross_entropy_on_repeats"]),
             _nats(baselines["ngram_cross_entropy_on_repeats"]))
    model["heard_again"] = heard_again(composer, val, params)
    if model["heard_again"]:
        log.info("a passage of %d tokens played twice: model %.3f nats the first time, %.3f the second",
                 composer.seq_len // 2, model["heard_again"]["first"], model["heard_again"]["again"])

    # Every piece the generate stage composed (eval_samples of them), not only the few it rendered to listen to.
    composed = json.loads((layout.generated(genre.name) / "pieces.json").read_text())
    judged = judge(composer, [piece["tokens"] for piece in composed], layout, genre.name, params.seed, log)

    out = layout.metrics(genre.name)
    write_json(out / "evaluate.json", {"model": {**model, "windows": int(len(targets))}, "baselines": baselines,
                                       "music": judged["music"], "originality": judged["originality"],
                                       "realness": judged["realness"]})
    write_text(out / "pitch_classes.csv", judged["pitch_classes"])


def heard_again(composer: Composer, val, params) -> dict | None:
    """The model's loss on validation passages heard the first time and right after hearing them once (None when
    the validation tokens are too short): whether it has learned to restate what it has just heard."""
    cut = heard_again_windows(val, composer.seq_len, HEARD_AGAIN_WINDOWS, params.seed)
    if cut is None:
        return None
    first, again, targets = cut
    rows = np.arange(len(targets))
    loss = {name: cross_entropy(composer.model.predict(x, batch_size=params.batch_size, verbose=0)[rows, targets])
            for name, x in (("first", first), ("again", again))}
    return {**loss, "windows": len(targets)}


def judge(composer: Composer, generated_tokens: list[list[str]], layout: Layout, genre: str, seed: int, log) -> dict:
    """Composed pieces (token lists) against the genre's held-out pieces: musical statistics, originality and
    realness (the evaluate.json sections of those names), and the pitch-class plot's CSV. The sampling benchmark
    judges other settings' pieces with it, exactly as this stage judges the generate stage's."""
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
    structure = {"generated": originality(generated_ids, train, training_ngrams),
                 "held_out": originality(reference_ids, train, training_ngrams)}
    log.info("samples vs held-out: musical overlap %.2f, distinct 8-grams %.3f (held-out %.3f), copy rate %.2f "
             "(held-out %.2f), longest copy %d", music["overlap_mean"], structure["generated"]["distinct_8grams"],
             structure["held_out"]["distinct_8grams"], structure["generated"]["copy_rate"],
             structure["held_out"]["copy_rate"], structure["generated"]["longest_copy"])
    # The real side goes through the encoding and back, as the samples did, so the classifier judges the music the
    # model could have learnt, not what the encoding drops (rhythm under `pitch`, off-grid timing under `rhythm`).
    real = [decode(encode(notes, composer.encoding), composer.encoding, composer.step) for notes in held_out_notes]
    real_test = realness(generated, real, seed)
    log.info("realness: a classifier tells generated from held-out stretches with accuracy %s (%d stretches each)",
             real_test["classifier_accuracy"], real_test["stretches"])
    return {"music": music, "originality": structure, "realness": real_test,
            "pitch_classes": pitch_class_table(pitch_class_histogram(generated), pitch_class_histogram(held_out))}


def _nats(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


def pitch_class_table(generated, held_out) -> str:
    """CSV rows (pitch_class, source, share) for the DVC bar chart of generated against held-out music."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["pitch_class", "source", "share"])
    for source, shares in (("generated", generated), ("held-out", held_out)):
        writer.writerows((pc, source, round(float(s), 4)) for pc, s in zip(PITCH_CLASSES, shares))
    return buffer.getvalue()


if __name__ == "__main__":
    run_stage("evaluate", main)
