"""A genre's headline figures: the dozen numbers a person compares, drawn from its three detailed metrics files.

`dvc metrics show` prints every key of every metrics file, so the detailed files (data.json, train/metrics.json,
evaluate.json: over 60 keys a genre) make a table nobody can read. These figures are one short row per genre; their
short names are explained in the README ("Comparing experiments") and by `jukebox compare --help`.
"""
from __future__ import annotations

from typing import Any

# (headline name, where it comes from: file and key path, decimals kept). Names are short so that a row per
# genre fits 160 columns; figures are rounded to what a comparison needs, which also keeps the columns narrow.
FIGURES: list[tuple[str, str, tuple[str, ...], int | None]] = [
    ("files", "data", ("files",), None),
    ("notes", "data", ("notes",), None),
    ("unique", "data", ("unique_notes",), None),
    ("val_loss", "train", ("val_loss",), 4),
    ("ppl", "evaluate", ("model", "perplexity"), 2),
    ("ngram", "evaluate", ("baselines", "ngram_perplexity"), 2),
    ("ratio", "evaluate", ("baselines", "perplexity_ratio"), 3),
    ("d8", "evaluate", ("originality", "generated", "distinct_8grams"), 3),
    ("d8_held", "evaluate", ("originality", "held_out", "distinct_8grams"), 3),
    ("copy", "evaluate", ("originality", "generated", "copy_rate"), 3),
    ("overlap", "evaluate", ("music", "overlap_mean"), 3),
    ("secs", "train", ("train_seconds",), 0),
    ("real", "evaluate", ("realness", "classifier_accuracy"), 3),
    ("ce_note", "evaluate", ("model", "cross_entropy_per_note"), 3),
    # The listening test (metrics/_listening/<genre>.json, from the web app's answers): people beside `real`.
    ("heard", "listening", ("decided",), None),
    ("fooled", "listening", ("fooled",), 3),
]

MEANINGS = {
    "files": "MIDI files in the genre's dataset",
    "notes": "notes in them",
    "unique": "distinct notes (the 2018 dataset table's unique_notes)",
    "val_loss": "validation cross-entropy of the next token at the best epoch (train)",
    "ppl": "model perplexity on the validation windows (evaluate): lower is better",
    "ngram": "the n-gram baseline's perplexity on the same windows",
    "ratio": "ppl / ngram: below 1, the network beats counting n-grams",
    "d8": "distinct 8-grams / all 8-grams in the generated samples (near 0 = loops)",
    "d8_held": "the same for held-out music of the same length: d8 should be close",
    "copy": "share of generated 8-grams copied verbatim from the training pieces",
    "overlap": "mean overlap (0-1) of musical feature distributions, generated vs held-out",
    "secs": "seconds of training",
    "real": "accuracy of a classifier telling generated from held-out music (0.5 = cannot tell)",
    "ce_note": "cross-entropy per note (nats), comparable across encodings",
    "heard": "listening test: answers that named one excerpt as the model's (jukebox listening-report)",
    "fooled": "share of them that took the model's excerpt for the real one (0.5 = people cannot tell)",
}


def _lookup(record: dict | None, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(record, dict) or key not in record:
            return None
        record = record[key]
    return record


def headline(data: dict | None, train: dict | None, evaluate: dict | None, listening: dict | None = None) -> dict:
    """The headline figures of one genre, in FIGURES order; a figure whose source key is missing is left out."""
    sources = {"data": data, "train": train, "evaluate": evaluate, "listening": listening}
    figures: dict = {}
    for name, source, path, decimals in FIGURES:
        value = _lookup(sources[source], path)
        # bool is an int to Python, and None or a string (e.g. "n/a") is not a figure to compare.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if decimals is None:
            figures[name] = value
        elif decimals == 0:
            figures[name] = int(round(value))
        else:
            figures[name] = round(float(value), decimals)
    return figures


def read_headlines(project, revs: list[str]) -> dict[str, dict[str, dict]]:
    """Every genre's headline figures at each revision ("workspace" = the files on disk), read through DVC.

    A revision is anything `dvc metrics show` takes (a commit, branch, tag or experiment name). Returns
    {revision: {genre: figures}}, revisions in the order given.
    """
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    committed = [r for r in revs if r != "workspace"]
    try:
        with Repo(str(project)) as repo:
            # Only the declared metrics are read: headline.json of each genre's summarize stage, and the listening
            # test's metrics/_listening/<genre>.json (dvc.yaml's top-level `metrics:`).
            results = repo.metrics.show(revs=committed or None, hide_workspace=False, on_error="return")
    except DvcException as exc:
        raise ValueError(f"{exc}; name a commit, branch, tag or experiment (`dvc exp show` lists them)") from exc
    # Without revisions DVC names the workspace "" rather than "workspace".
    results.setdefault("workspace", results.get("", {}))
    by_rev: dict[str, dict[str, dict]] = {}
    for rev in revs:
        result = results.get(rev)
        if result is None or "error" in result:
            error = (result or {}).get("error")
            raise ValueError(f"cannot read the metrics of revision {rev!r}"
                             + (f": {error}" if error else "") + "; name a commit, branch, tag or experiment "
                             "(`dvc exp show` lists them)")
        genres = {}
        for path, file_result in (result.get("data") or {}).items():
            parts = path.replace("\\", "/").split("/")
            if len(parts) >= 3 and parts[-1] == "headline.json" and "data" in file_result:
                genres.setdefault(parts[-2], {}).update(file_result["data"])
            elif len(parts) >= 3 and parts[-2] == "_listening" and parts[-1].endswith(".json") \
                    and "data" in file_result:
                genres.setdefault(parts[-1].removesuffix(".json"), {}).update(
                    headline(None, None, None, file_result["data"]))
        by_rev[rev] = genres
    return by_rev


def _cell(value) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _change(old, new, name: str) -> str:
    if not isinstance(old, (int, float)) or not isinstance(new, (int, float)):
        return ""
    decimals = next((d for n, _, _, d in FIGURES if n == name), None) or 0
    delta = round(new - old, decimals) if decimals else new - old
    return "0" if delta == 0 else f"{delta:+g}"


def comparison_table(by_rev: dict[str, dict[str, dict]]) -> str:
    """Genres as rows and headline figures as columns; with two revisions, a row of each and a row of the change."""
    revs = list(by_rev)
    genres = sorted({genre for figures in by_rev.values() for genre in figures})
    names = [name for name, *_ in FIGURES if any(name in f.get(g, {}) for f in by_rev.values() for g in f)]
    header = ["genre"] + (["rev"] if len(revs) > 1 else []) + names
    rows = []
    for genre in genres:
        for rev in revs:
            figures = by_rev[rev].get(genre, {})
            rows.append([genre if rev == revs[0] else ""] + ([rev] if len(revs) > 1 else [])
                        + [_cell(figures.get(name)) for name in names])
        if len(revs) == 2:
            old, new = (by_rev[rev].get(genre, {}) for rev in revs)
            rows.append(["", "change"] + [_change(old.get(name), new.get(name), name) for name in names])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    text_columns = 2 if len(revs) > 1 else 1  # genre (and revision) left-aligned, figures right-aligned
    lines = ["  ".join(cell.ljust(w) if i < text_columns else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in [header, *rows]]
    return "\n".join(lines) + "\n"
