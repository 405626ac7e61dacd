"""Does a base model help a genre? A small measured sketch of issue 34's question, on one machine.

    python -m benchmarks.finetune --project /work/main --genre classical --base celtic folk --minutes 5

In a scratch folder: the parsed notes of every genre are copied from `--project` (after its `dvc repro`), the
sequences stage tokenizes them on the fixed `rhythm` vocabulary, a `cpu`-size base is pretrained for `--minutes` on
the `--base` genres' *training* pieces (every genre's validation pieces kept out, as the pretrain stage does), and
`--genre` is trained twice by the train stage, from scratch and from the base, for the same epochs. Printed: each
run's best validation loss, its epoch and seconds, and evaluate's `heard_again` (the loss on a passage heard the
first time and right after hearing it once).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from jukebox.layout import Layout

ROOT = Path(__file__).resolve().parents[1]


def pretrain_for(minutes: float, genres: list[str], log) -> dict:
    """Pretrain the base on the training pieces of `genres` for about `minutes`, in the current project."""
    import keras

    from jukebox.artifacts import read_jsonl
    from jukebox.encodings.fixed import fixed_vocabulary
    from jukebox.params import load_params
    from jukebox.pretraining import base_params, corpus_tokens, held_out_keys, save_base, without_held_out
    from jukebox.training import prepare

    params, layout = load_params(), Layout.of()
    records = []
    for genre in genres:
        train_names = set(json.loads((layout.sequences(genre) / "split.json").read_text())["train"])
        records += [r for r in read_jsonl(layout.pieces(genre)) if r["piece"] in train_names]
    kept, excluded = without_held_out(records, held_out_keys(layout, list(params.genres)))
    vocabulary = fixed_vocabulary(params.encoding)
    train, val, vocab, _ = corpus_tokens(kept, vocabulary, params)
    base = base_params(params)
    model, config, train_ds, val_data, steps = prepare(base, train, val, vocab.tokens)

    class Budget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if time.perf_counter() - self.started > minutes * 60:
                self.model.stop_training = True

    budget = Budget()
    history = model.fit(train_ds.repeat(), steps_per_epoch=steps, epochs=base.epochs, validation_data=val_data,
                        batch_size=base.batch_size, shuffle=False, callbacks=[budget], verbose=2).history
    save_base(layout.base_model, model, config, vocabulary, vocab)
    result = {"pieces": len(kept), "excluded": len(excluded), "train_tokens": int(len(train)),
              "epochs": len(history["val_loss"]), "val_loss": min(history["val_loss"]),
              "seconds": round(time.perf_counter() - budget.started, 1)}
    log(f"base: {result}")
    return result


def restating(genre: str) -> dict | None:
    """The trained genre's loss on validation passages heard the first time and again (evaluate's heard_again)."""
    from jukebox.artifacts import read_npy
    from jukebox.generation import Composer
    from jukebox.judging import heard_again
    from jukebox.params import load_params

    layout = Layout.of()
    return heard_again(Composer.load(layout.model(genre)), read_npy(layout.val_tokens(genre)), load_params())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", required=True, help="a project after `dvc repro` (its data/notes are read)")
    parser.add_argument("--genre", default="classical")
    parser.add_argument("--base", nargs="+", default=["celtic", "folk"], help="genres whose training pieces the "
                                                                            "base learns from")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--pretrain-epochs", type=int, default=20, help="the base's schedule length (the time "
                                                                        "budget usually ends it first)")
    parser.add_argument("--finetune-rate", type=float, help="finetune_learning_rate (default: params.yaml's)")
    parser.add_argument("--work", help="the folder of an earlier run: its sequences and base are used again")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    from jukebox.params import load_params
    from stages import sequences, train

    source = Layout.of(args.project)
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    raw.update(vocabulary="fixed", encoding="rhythm", finetune_epochs=raw["epochs"])
    if args.finetune_rate:
        raw["finetune_learning_rate"] = args.finetune_rate
    raw["pretrain"] = {**raw.get("pretrain", {}), "sources": [], "size": "cpu", "epochs": args.pretrain_epochs,
                       "windows_per_epoch": raw["windows_per_epoch"]}
    if args.work:
        work = Path(args.work)
        os.chdir(work)
        results = {"pretrain": "reused from " + str(work)}
    else:
        work = Path(tempfile.mkdtemp(prefix="jukebox-finetune-"))
        (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        genres = list(load_params(work / "params.yaml").genres)
        for genre in genres:
            shutil.copytree(source.notes(genre), Layout.of(work).notes(genre))
        os.chdir(work)
        for genre in genres:
            sequences.main(genre)
        results = {"pretrain": pretrain_for(args.minutes, args.base, print)}
    print(f"working in {work}", flush=True)
    for init in ("scratch", "base"):
        (work / "params.yaml").write_text(yaml.safe_dump({**raw, "init": init}, sort_keys=False))
        shutil.rmtree(Layout.of().model(args.genre), ignore_errors=True)
        shutil.rmtree(Layout.of().train_checkpoints(args.genre), ignore_errors=True)
        train.main(args.genre)
        metrics = json.loads((Layout.of().train_metrics(args.genre) / "metrics.json").read_text())
        results[init] = {k: metrics[k] for k in ("val_loss", "best_epoch", "epochs", "train_seconds")}
        results[init]["heard_again"] = restating(args.genre)
        print(f"{args.genre} from {init}: {results[init]}", flush=True)
    print(json.dumps(results, indent=1))
    if args.json:
        from jukebox.artifacts import write_json

        write_json(args.json, {**results, "genre": args.genre, "base_genres": args.base, "minutes": args.minutes})


if __name__ == "__main__":
    main()
