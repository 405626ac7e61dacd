"""What a collection of 5, 20 or 100 MIDI files gets, as benchmarks/collection_sizes.py measured it.

The figures live in collection_sizes.json beside this module (the benchmark writes it; it is committed). The
collection page shows them as a table and a job's page says what its file count got; without the file, or with
one that cannot be read, the pages show nothing of it and work as before.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

log = logging.getLogger("jukebox.web")

DATA_FILE = Path(__file__).with_name("collection_sizes.json")
INITS = ("base", "scratch")
NUMBERS = ("first_sample_s", "total_s", "perplexity_ratio", "classifier_accuracy", "low", "high", "copy_rate",
           "held_out_copy_rate")


def _valid_run(run) -> bool:
    if not isinstance(run, dict) or run.get("init") not in INITS:
        return False
    files = run.get("files")
    if not isinstance(files, int) or isinstance(files, bool) or files < 1:
        return False
    return all(run.get(k) is None or (isinstance(run[k], (int, float)) and not isinstance(run[k], bool))
               for k in NUMBERS)


def read_sizes(path: Path = DATA_FILE) -> dict | None:
    """The measured runs ({"collection", "runs": [...]}), or None when the file is missing or not as written."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s); the collection page shows no table of collection sizes", path, exc)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("runs"), list) or not data["runs"] \
            or not all(_valid_run(r) for r in data["runs"]):
        log.warning("%s is not what benchmarks/collection_sizes.py writes; the collection page shows no table of "
                    "collection sizes (run the benchmark again)", path)
        return None
    return data


def size_table(data: dict | None) -> list[dict]:
    """One row per measured file count: {"files", "base", "scratch"}, each side a run or None."""
    rows: dict[int, dict] = {}
    for run in (data or {}).get("runs", []):
        rows.setdefault(run["files"], {"files": run["files"], "base": None, "scratch": None})[run["init"]] = run
    return [rows[n] for n in sorted(rows)]


def expectation(data: dict | None, files: int | None, init: str | None) -> str:
    """One sentence on what the measured collection nearest to `files` files got, for a job's `init`; '' if none."""
    runs = [r for r in (data or {}).get("runs", []) if r["init"] == init]
    if not runs or not isinstance(files, int) or files < 1:
        return ""
    run = min(runs, key=lambda r: (abs(r["files"] - files), r["files"]))
    start = "from the base model" if init == "base" else "from scratch"
    found = []
    if run.get("first_sample_s") is not None:
        found.append(f"the first sample came after {run['first_sample_s']:.0f} s")
    if run.get("perplexity_ratio") is not None:
        found.append(f"the model's perplexity was {run['perplexity_ratio']:.2f}× its n-gram's")
    if run.get("classifier_accuracy") is not None:
        # A few files leave one or two held-out pieces to judge against: the interval says how little that settles.
        sure = (f"between {run['low']:.0%} and {run['high']:.0%} with 95% confidence; "
                if run.get("low") is not None and run.get("high") is not None else "")
        found.append(f"a classifier told its samples from real pieces {run['classifier_accuracy']:.0%} of the time "
                     f"({sure}50% is the best: it cannot tell them apart)")
    copied, real = run.get("copy_rate"), run.get("held_out_copy_rate")
    if copied is not None and real is not None:
        found.append("its samples copied passages of the files more often than real pieces do: with so few files the "
                     "model mostly learns them by heart" if copied > real else
                     "its samples copied passages of the files no more often than real pieces do")
    if not found:
        return ""
    listed = "; ".join(found)
    collection = data.get("collection") or "a collection"
    return (f"With {files} file{'' if files == 1 else 's'}: a collection of {run['files']} files of {collection}, "
            f"learned {start}, was measured: {listed}.")
