"""What collections of 5, 20 and 100 MIDI files get, from the base model and from scratch, through the app's path.

    python -m benchmarks.collection_sizes --project /work/main     # trecento; 5, 20, 100 files; base and scratch

For each start (`init: base`, `init: scratch`) a throwaway copy of `--project` is made: the files of its working tree
that git tracks or would track, and its models/_base and metrics/_base (a base trained but not yet committed counts),
in a fresh git repository, without any genre's data, model or DVC cache. Each collection is added as the web app
adds an upload (app_genres.add_genre) and learned by the job's own command (jukebox/web/jobs.py: `dvc repro
--single-item <stage>@<genre> ...`). Timed: until generate's first sample exists, and the whole run. Read: evaluate's
perplexity as a share of the best n-gram's, the realness classifier's accuracy with its 95% interval, and how often
the samples copy the files against held-out pieces. The runs alternate base and scratch for each size, so both meet
the same load on the machine. The files come from a music21 collection outside the base's corpus (pretrain.sources),
or from a folder of your own; each size takes the first files of one seeded order of `--pool` pieces (the 20 hold
the 5, whichever sizes are asked for). Written to
--out (default jukebox/web/collection_sizes.json, which the collection page reads). A benchmark, not a test: on a
machine busy with something else the seconds mean little.

    python -m benchmarks.collection_sizes --project . --sizes 20 100 --inits base --upload-epochs 10 6 --repeats 3 \
        --out /tmp/upload-epochs.json

measures uploads fine-tuned for each number of epochs (params.yaml's upload_finetune_epochs, written into each
upload's entry) side by side in one project, alternating, each `--repeats` times, and prints the medians and their
ratios to the first: a machine whose speed drifts meets every setting alike.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import yaml

from jukebox.artifacts import write_json
from jukebox.layout import Layout
from jukebox.params import load_params
from jukebox.sources import MIDI_SUFFIXES, export_corpus
from jukebox.web.app_genres import add_genre, staging_folder
from jukebox.web.collection_sizes import DATA_FILE
from jukebox.web.jobs import base_pieces, pipeline_stages, repro_command, stage_environment

DEFAULT_COLLECTION = "trecento"  # 103 pieces, none of them in the base's corpus (checked below)


def collection_files(collection: str, count: int, folder: Path, seed: int, pool: int = 0) -> list[Path]:
    """`count` MIDI files in a seeded order: a folder's own, or of a music21 collection's `pool` pieces (at least
    `count`) exported to `folder`."""
    if Path(collection).is_dir():
        files = sorted(p for p in Path(collection).rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)
    else:
        records = export_corpus(collection, folder, max(count, pool), seed, jobs=0)
        files = [folder / r["file"] for r in records if r["status"] == "kept"]
    if len(files) < count:
        raise SystemExit(f"--collection {collection}: {len(files)} MIDI files, fewer than the largest --sizes ({count}); "
                         "choose a larger collection or smaller sizes")
    # One seeded order, each size its first files: the 20 hold the 5, the 100 hold the 20.
    return random.Random(seed).sample(files, len(files))[:count]


def throwaway_project(source: Path, dest: Path, init: str) -> Path:
    """A copy of `source`'s working tree (its files git tracks or would track, and the base model) in a fresh git
    repository, with `init` set in params.yaml; no data, models or DVC cache of its genres."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=source,
                            capture_output=True, check=True).stdout
    for name in filter(None, listed.split(b"\0")):
        path = source / os.fsdecode(name)
        if path.is_file():  # a tracked file deleted in the working tree is left out, as in the working tree
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / os.fsdecode(name))
    here, there = Layout.of(source), Layout.of(dest)
    for folder, copy in ((here.base_model, there.base_model), (here.base_metrics, there.base_metrics)):
        if folder.is_dir():  # a base trained and not yet committed counts
            shutil.copytree(folder, copy, dirs_exist_ok=True)
    params = yaml.safe_load(there.params.read_text())
    params["init"] = init
    there.params.write_text(yaml.safe_dump(params, sort_keys=False))
    for command in (["init", "-q"], ["add", "-A"], ["-c", "user.email=benchmark@localhost", "-c",
                                                     "user.name=benchmark", "commit", "-qm", "throwaway copy"]):
        subprocess.run(["git", *command], cwd=dest, check=True)
    return dest


def learn(project: Path, genre: str, files: list[Path], log: Path) -> dict:
    """Add `files` as the app adds an upload, run the job's `dvc repro`; seconds to the first sample and in all."""
    staging = staging_folder(project, genre)
    for file in files:
        shutil.copy(file, staging / file.name)
    add_genre(project, genre, staging)
    samples = Layout.of(project).generated(genre)
    started, first = time.perf_counter(), None
    with open(log, "w") as out:
        proc = subprocess.Popen(repro_command(genre, pipeline_stages(project)), cwd=project, env=stage_environment(),
                                stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            if first is None and any(samples.glob("*.mid")):
                first = time.perf_counter() - started
            try:
                proc.wait(0.2)
            except subprocess.TimeoutExpired:
                pass
    total = time.perf_counter() - started
    if proc.returncode:
        tail = "\n".join(log.read_text().splitlines()[-15:])
        raise SystemExit(f"{genre} in {project} failed (its log: {log}):\n{tail}")
    return {"first_sample_s": round(first if first is not None else total, 1), "total_s": round(total, 1)}


def figures(project: Path, genre: str) -> dict:
    """The genre's figures as the pipeline wrote them: perplexity against the n-gram, realness, copying, training."""
    layout = Layout.of(project)
    evaluate = json.loads((layout.metrics(genre) / "evaluate.json").read_text())
    train = json.loads((layout.train_metrics(genre) / "metrics.json").read_text())
    data = json.loads((layout.metrics(genre) / "data.json").read_text())
    realness, originality = evaluate.get("realness", {}), evaluate.get("originality", {})
    return {"pieces": data.get("files"), "train_pieces": data.get("train_pieces"), "val_pieces": data.get("val_pieces"),
            "perplexity": evaluate["model"]["perplexity"], "ngram_perplexity": evaluate["baselines"]["ngram_perplexity"],
            "perplexity_ratio": evaluate["baselines"]["perplexity_ratio"],
            "classifier_accuracy": realness.get("classifier_accuracy"), "low": realness.get("low"),
            "high": realness.get("high"), "stretches": realness.get("stretches"),
            "copy_rate": originality.get("generated", {}).get("copy_rate"),
            "held_out_copy_rate": originality.get("held_out", {}).get("copy_rate"),
            "epochs": train.get("epochs"), "best_epoch": train.get("best_epoch"), "val_loss": train.get("val_loss")}


def _ratio(a, b) -> str:
    return f"{a / b:.2f}" if a is not None and b else "–"


def _cell(value, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def table(runs: list[dict]) -> str:
    """Base against scratch for each size: seconds, perplexity share, realness, and base / scratch ratios."""
    lines = [f"{'files':>5}  {'first sample s':>24}  {'total s':>24}  {'perplexity / n-gram':>24}  "
             f"{'realness':>13}", f"{'':>5}  {'base / scratch = ratio':>24}  {'base / scratch = ratio':>24}  "
             f"{'base / scratch = ratio':>24}  {'base / scratch':>13}"]
    for files in sorted({r["files"] for r in runs}):
        by = {r["init"]: r for r in runs if r["files"] == files}
        base, scratch = by.get("base", {}), by.get("scratch", {})
        cells = []
        for key, spec in (("first_sample_s", ".0f"), ("total_s", ".0f"), ("perplexity_ratio", ".2f")):
            a, b = base.get(key), scratch.get(key)
            cells.append(f"{_cell(a, spec)} / {_cell(b, spec)} = {_ratio(a, b)}")
        real = f"{_cell(base.get('classifier_accuracy'), '.2f')} / {_cell(scratch.get('classifier_accuracy'), '.2f')}"
        lines.append(f"{files:>5}  {cells[0]:>24}  {cells[1]:>24}  {cells[2]:>24}  {real:>13}")
    return "\n".join(lines)


def set_upload_epochs(project: Path, epochs: int) -> None:
    """The fine-tuning epochs the project's next upload gets (add_genre writes them into its entry)."""
    path = Layout.of(project).params
    params = yaml.safe_load(path.read_text())
    params["upload_finetune_epochs"] = epochs
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def epochs_table(runs: list[dict]) -> str:
    """Per size and start, each epochs setting's medians over its repeats, and their ratios to the first setting."""
    lines = [f"{'files':>5}  {'init':<8}{'epochs':>7}{'runs':>5}  {'first sample s':>16}  {'total s':>14}  "
             f"{'val_loss':>14}  {'perplexity / n-gram':>19}"]
    for files in sorted({r["files"] for r in runs}):
        for init in ("base", "scratch"):
            settings = list(dict.fromkeys(r["upload_epochs"] for r in runs if (r["files"], r["init"]) == (files, init)))
            first = None
            for epochs in settings:
                same = [r for r in runs if (r["files"], r["init"], r["upload_epochs"]) == (files, init, epochs)]
                medians = {key: statistics.median(r[key] for r in same)
                           for key in ("first_sample_s", "total_s", "val_loss", "perplexity_ratio")}
                first = first or medians
                cells = [f"{medians[key]:.{digits}f} ({medians[key] / first[key]:.2f}x)"
                         for key, digits in (("first_sample_s", 0), ("total_s", 0), ("val_loss", 3),
                                             ("perplexity_ratio", 3))]
                lines.append(f"{files:>5}  {init:<8}{epochs or '-':>7}{len(same):>5}  {cells[0]:>16}  {cells[1]:>14}  "
                             f"{cells[2]:>14}  {cells[3]:>19}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=Path("."), help="the project to copy (default: here)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 20, 100], help="files per collection")
    parser.add_argument("--inits", nargs="+", choices=["base", "scratch"], default=["base", "scratch"])
    parser.add_argument("--collection", default=DEFAULT_COLLECTION,
                        help="a music21 corpus collection outside pretrain.sources, or a folder of MIDI files")
    parser.add_argument("--seed", type=int, default=42, help="which files, in which order")
    parser.add_argument("--pool", type=int, default=100,
                        help="a music21 collection's pieces exported to draw from (at least the largest size), so "
                             "that `--sizes 20` alone measures the same 20 files as `--sizes 5 20 100`")
    parser.add_argument("--out", type=Path, default=DATA_FILE, help="the JSON written (default: the web app's)")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway projects (their path is printed)")
    parser.add_argument("--upload-epochs", type=int, nargs="+",
                        help="base runs: the uploads' fine-tuning epochs, each measured (default: params.yaml's)")
    parser.add_argument("--repeats", type=int, default=1, help="measure each run this many times, alternating")
    args = parser.parse_args(argv)

    source = args.project.resolve()
    params = load_params(Layout.of(source).params)
    if args.collection in {s.corpus for s in params.pretrain.sources if s.corpus}:
        parser.error(f"--collection {args.collection} is in the base's corpus (pretrain.sources in params.yaml): its "
                     "pieces are no new music to the base; choose another collection, e.g. trecento")
    if "base" in args.inits:
        if base_pieces(source) is None:
            parser.error(f"{Layout.of(source).base_metrics / 'corpus.json'} says no base is trained; train it "
                         "(docs/guide/pretraining.md) or run with --inits scratch")
        if params.vocabulary != "fixed":
            parser.error(f"{Layout.of(source).params}: vocabulary is {params.vocabulary!r}; a genre starts from the "
                         "base only with vocabulary: fixed")
    if min(args.sizes) < 2:
        parser.error("--sizes: a genre needs at least 2 files (one to learn from, one to check on)")
    upload_epochs = args.upload_epochs or [params.upload_finetune_epochs]
    if min(upload_epochs) < 1 or args.repeats < 1:
        parser.error("--upload-epochs and --repeats: at least 1")
    side_by_side = len(upload_epochs) > 1 or args.repeats > 1
    if side_by_side and args.out.resolve() == DATA_FILE.resolve():
        parser.error("--upload-epochs with several values, or --repeats: write to another --out; the collection "
                     "page reads one run per size and start")
    work = Path(tempfile.mkdtemp(prefix="jukebox-collection-sizes-"))
    print(f"working in {work}", flush=True)
    files = collection_files(args.collection, max(args.sizes), work / "collection", args.seed, args.pool)
    projects = {init: throwaway_project(source, work / f"from-{init}", init) for init in args.inits}
    load_before, runs = [round(x, 2) for x in os.getloadavg()], []
    for size in sorted(args.sizes):
        for repeat in range(1, args.repeats + 1):
            for init, project in projects.items():
                for epochs in upload_epochs if init == "base" else [None]:
                    genre = (f"files-{size}" + (f"-e{epochs}" if epochs and len(upload_epochs) > 1 else "")
                             + (f"-r{repeat}" if args.repeats > 1 else ""))
                    if epochs:
                        set_upload_epochs(project, epochs)
                    timing = learn(project, genre, files[:size], work / f"{genre}-{init}.log")
                    runs.append({"files": size, "init": init, "upload_epochs": epochs, "repeat": repeat, **timing,
                                 **figures(project, genre)})
                    print(json.dumps(runs[-1]), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True, text=True)
    result = {"collection": Path(args.collection).name, "sizes": sorted(args.sizes), "inits": args.inits,
              "seed": args.seed, "base_pieces": base_pieces(source), "commit": commit.stdout.strip(),
              "date": date.today().isoformat(), "cores": os.cpu_count(), "load_before": load_before,
              "load_after": [round(x, 2) for x in os.getloadavg()],
              "command": "python -m benchmarks.collection_sizes " + " ".join(sys.argv[1:] if argv is None else argv),
              "runs": runs}
    write_json(args.out, result)
    print(epochs_table(runs) if side_by_side else table(runs))
    print(f"written to {args.out}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
