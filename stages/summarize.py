"""Stage summarize: a genre's headline figures in one small metrics file, so `dvc metrics show` is a row per genre."""
from __future__ import annotations

import json

from jukebox.artifacts import stage_logger, write_json
from jukebox.entrypoint import run_stage
from jukebox.headline import headline
from jukebox.layout import Layout
from jukebox.params import load_params


def main(genre_name: str) -> None:
    genre = load_params().genre(genre_name)
    log = stage_logger("summarize", genre.name)
    metrics = Layout.of().metrics(genre.name)
    figures = headline(*(json.loads((metrics / name).read_text())
                         for name in ("data.json", "train/metrics.json", "evaluate.json")))
    write_json(metrics / "headline.json", figures)
    log.info("%s", ", ".join(f"{k} {v}" for k, v in figures.items()))


if __name__ == "__main__":
    run_stage("summarize", main)
