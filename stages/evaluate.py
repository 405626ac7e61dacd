"""Stage evaluate: the model's predictions against n-gram baselines, and its samples against held-out music."""
from __future__ import annotations

import json

import numpy as np

from jukebox.artifacts import read_npy, stage_logger, write_json, write_text
from jukebox.dataset import window_starts, windows
from jukebox.encodings import is_note
from jukebox.entrypoint import run_stage
from jukebox.evaluation import baseline_scores, prediction_scores, repeated_targets
from jukebox.generation import Composer
from jukebox.judging import heard_again, judge
from jukebox.layout import Layout
from jukebox.model import SCORING_BATCH
from jukebox.params import load_params


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
    model = prediction_scores(composer.model.predict(x, batch_size=SCORING_BATCH, verbose=0), targets,
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
    # A sample of a multi-track genre is judged with the instrument its primer window had named, as it was written.
    starts = [piece.get("primer_start") for piece in composed]
    primers = [[] if s is None else composer.vocab.decode(val[s:s + composer.seq_len]) for s in starts]
    judged = judge(composer, [composer.encoder.continued(primer, piece["tokens"])
                              for primer, piece in zip(primers, composed)], layout, genre.name, params.seed, log)

    out = layout.metrics(genre.name)
    write_json(out / "evaluate.json", {"model": {**model, "windows": int(len(targets))}, "baselines": baselines,
                                       "music": judged["music"], "originality": judged["originality"],
                                       "realness": judged["realness"],
                                       # genres with instruments keep: instrument sets, shares, drums, voice ranges
                                       **({"instruments": judged["instruments"]} if judged["instruments"] else {})})
    write_text(out / "pitch_classes.csv", judged["pitch_classes"])


def _nats(value: float | None) -> str:
    return "none" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    run_stage("evaluate", main)
