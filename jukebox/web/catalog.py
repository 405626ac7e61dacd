"""What the pages show about each genre: its dataset table, training metrics, samples, and whether it is ready."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from ..layout import Layout
from ..params import Genre, Params

DATASET_KEYS = ("files", "notes", "unique_notes", "skipped_files")
TRAINING_KEYS = ("loss", "val_loss", "val_accuracy", "best_epoch", "epochs", "train_seconds")


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def recorded_stages(project: Path) -> set[str]:
    """Stages (`train@celtic`, ...) that DVC recorded as finished in dvc.lock; an output of any other is not trusted."""
    try:
        lock = yaml.safe_load(Layout.of(project).dvc_lock.read_text()) or {}
    except FileNotFoundError:
        return set()
    return set(lock.get("stages") or {})


def _pick(data: dict | None, keys: tuple[str, ...]) -> dict:
    return {k: data[k] for k in keys if isinstance(data, dict) and k in data}


def _evaluation(evaluation: dict) -> dict:
    """The model's perplexity and accuracy beside the n-gram baseline's, with a verdict in a word for the home page."""
    model, baselines = evaluation.get("model") or {}, evaluation.get("baselines") or {}
    figures = {"perplexity": model.get("perplexity"), "top1_accuracy": model.get("top1_accuracy"),
               "ngram_perplexity": baselines.get("ngram_perplexity"), "ngram_n": baselines.get("ngram_n")}
    figures = {k: v for k, v in figures.items() if v is not None}
    if {"perplexity", "ngram_perplexity"} <= figures.keys():
        ratio = figures["perplexity"] / figures["ngram_perplexity"]
        # Under 2 % better is too thin a margin to tell a listener the network beats counting: "barely".
        figures["beats_counting"] = "yes" if ratio < 0.98 else "barely" if ratio < 1 else "no"
    return figures


def genre_summary(project: Path, name: str, params: Params, recorded: set[str], app_made: bool,
                  job: dict | None = None) -> dict:
    """One genre as the home page and GET /api/genres show it."""
    genre = params.genres[name]
    layout = Layout.of(project)
    metrics, generated = layout.metrics(name), layout.generated(name)
    evaluation = _json(metrics / "evaluate.json") or {}
    # Ready = DVC recorded train and generate for it and their outputs are here, and no job is remaking it:
    # the outputs of a stage cut off mid-run are never shown as results.
    ready = ({f"train@{name}", f"generate@{name}"} <= recorded and (layout.model(name) / "model.keras").is_file()
             and (generated / "samples.json").is_file() and not (job and job["status"] != "succeeded"))
    samples = []
    if ready:
        for record in _json(generated / "samples.json") or []:
            record = {k: v for k, v in record.items() if k != "tokens"}
            record.setdefault("name", Path(record.get("file", "sample")).stem)
            record.setdefault("files", {"midi": record.get("file")})
            samples.append(record)
    return {
        "name": name, "source": genre.source, "made_by_app": app_made, "ready": ready,
        "instrument_program": genre.program, "bpm": genre.bpm,
        "dataset": _pick(_json(metrics / "data.json"), DATASET_KEYS),
        "training": _pick(_json(layout.train_metrics(name) / "metrics.json"), TRAINING_KEYS),
        "evaluation": _evaluation(evaluation),
        "samples": samples,
        "job": {"id": job["id"], "status": job["status"], "stage": job.get("stage", "")} if job else None,
    }


def instruments_line(project: Path, genre: Genre, multitrack: bool) -> str:
    """What a genre does with its files' instruments, in a sentence: those its parsed pieces play (the parse stage's
    summary.json), or the one stream it merges them into; `multitrack`: whether the encoding keeps instruments."""
    from ..instruments import family, summary_families

    if genre.instruments == "keep" and multitrack:
        families = summary_families(_json(Layout.of(project).notes(genre.name) / "summary.json") or {})
        kept = f"Instruments kept: {', '.join(families)}" if families else \
            "Instruments kept: each track plays its own (named here once the files are parsed)"
        return kept + ("; the drum track dropped." if not genre.drums else ".")
    played = f"played on General MIDI program {genre.program} ({family(genre.program)})"
    if genre.instruments == "keep":
        return (f"Instruments merged into one stream, {played}: the project's encoding has one stream (rhythm and "
                "remi_plus keep each track's instrument).")
    return f"Instruments merged into one stream, {played}."
