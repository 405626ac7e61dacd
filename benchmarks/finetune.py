"""Does the base help, and at which fine-tuning rate? Each genre from scratch and from the base, side by side.

    python -m benchmarks.finetune --project . --genres classical celtic --rates 0.001 0.003

`--project` is a project after `dvc repro` on the fixed vocabulary with a trained base (models/_base). In a
scratch folder, with the project's data/sequences and base, each genre is trained by the train stage from scratch
(at `learning_rate`, `epochs` of `windows_per_epoch`, as `init: scratch` trains) and from the base at each rate
(as `init: base` fine-tunes). Printed per run: the best validation loss and its epoch, the seconds, and evaluate's
`heard_again` (the loss on a validation passage heard the first time, and right after hearing it once); then each
fine-tuned run's validation loss and time as a ratio of the scratch run's.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import yaml

from jukebox.layout import Layout


def restating(layout: Layout, genre: str, params) -> dict:
    """The trained genre's loss on validation passages heard the first time and again (evaluate's heard_again)."""
    from jukebox.artifacts import read_npy
    from jukebox.generation import Composer
    from jukebox.judging import heard_again

    return heard_again(Composer.load(layout.model(genre)), read_npy(layout.val_tokens(genre)), params)


def train_once(work: Path, raw: dict, genre: str) -> dict:
    """Train `genre` in `work` with the parameters `raw` through the train stage; its figures."""
    from jukebox.params import load_params
    from stages import train

    (work / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    layout = Layout.of(work)
    shutil.rmtree(layout.model(genre), ignore_errors=True)
    shutil.rmtree(layout.train_checkpoints(genre), ignore_errors=True)
    train.main(genre)
    metrics = json.loads((layout.train_metrics(genre) / "metrics.json").read_text())
    result = {k: metrics[k] for k in ("val_loss", "best_epoch", "epochs", "train_seconds")}
    result["heard_again"] = restating(layout, genre, load_params(work / "params.yaml"))
    return result


def main(argv: list[str] | None = None) -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=".", help="a project after `dvc repro` with a trained base")
    parser.add_argument("--genres", nargs="+", default=["classical"])
    parser.add_argument("--rates", nargs="+", type=float, default=[0.001, 0.003], help="finetune_learning_rate values")
    parser.add_argument("--no-scratch", action="store_true", help="only the fine-tuned runs")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)

    source = Layout.of(Path(args.project).resolve())
    raw = yaml.safe_load(source.params.read_text())
    work = Path(tempfile.mkdtemp(prefix="jukebox-finetune-"))
    shutil.copytree(source.base_model, Layout.of(work).base_model)
    for genre in args.genres:  # the notes too: fine-tuning checks the validation pieces against the base's corpus
        shutil.copytree(source.sequences(genre), Layout.of(work).sequences(genre))
        shutil.copytree(source.notes(genre), Layout.of(work).notes(genre))
    print(f"working in {work}", flush=True)
    os.chdir(work)  # the train stage reads and writes the project it runs in
    results: dict = {}
    for genre in args.genres:
        runs = {} if args.no_scratch else {"scratch": train_once(work, {**raw, "init": "scratch"}, genre)}
        for rate in args.rates:
            runs[f"base@{rate:g}"] = train_once(work, {**raw, "init": "base", "finetune_learning_rate": rate}, genre)
        results[genre] = runs
        for name, run in runs.items():
            again = run["heard_again"]  # None when the validation tokens are too short for it
            line = (f"{genre:10} {name:12} val_loss {run['val_loss']:.4f} (epoch {run['best_epoch']} of "
                    f"{run['epochs']}), {run['train_seconds']:.0f} s, heard_again "
                    + (f"{again['first']:.3f} -> {again['again']:.3f}" if again else "n/a"))
            if "scratch" in runs and name != "scratch":
                line += (f"; x{run['val_loss'] / runs['scratch']['val_loss']:.3f} the scratch loss, "
                         f"x{run['train_seconds'] / runs['scratch']['train_seconds']:.2f} its time")
            print(line, flush=True)
    if args.json:
        from jukebox.artifacts import write_json

        write_json(args.json, results)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
