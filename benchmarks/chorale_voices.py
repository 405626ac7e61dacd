"""Chorales with `instruments: keep`: do the samples have four voices, each in its real counterpart's range?

    nice -n 19 python -m benchmarks.chorale_voices --raw data/raw/classical [--pieces 120] [--epochs 6]
        [--windows-per-epoch 1024] [--work DIR]

Runs scrape (the `local` source over `--raw`'s MIDI files), parse, sequences, train, generate and evaluate for one
genre `chorales` (instruments keep, encoding remi_plus) in a scratch project under `--work`, with a small model, and
prints evaluate.json's `instruments` section: issue 30's four-part criterion (four voices in every sample, each
voice's range overlapping its real counterpart's by 0.8 or more).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import yaml

from jukebox.layout import Layout

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, required=True, help="a folder of chorale MIDI files (scrape's output)")
    parser.add_argument("--pieces", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--windows-per-epoch", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=Layout.of(ROOT).benchmarks / "chorale_voices")
    args = parser.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(encoding="remi_plus", seq_len=128, epochs=args.epochs, windows_per_epoch=args.windows_per_epoch,
                  layers=2, units=64, heads=2, transpose=0, n_notes=160, n_samples=2, eval_samples=12, jobs=1)
    params["genres"] = {"chorales": {"source": "local", "path": str(args.raw.resolve()), "instruments": "keep",
                                     "max_pieces": args.pieces, "program": 52, "bpm": 80}}
    (args.work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    os.chdir(args.work)
    from stages import evaluate, generate, parse, scrape, sequences, train

    for stage in (scrape, parse, sequences, train, generate, evaluate):
        stage.main("chorales")
    report = json.loads(Path("metrics/chorales/evaluate.json").read_text())
    print(json.dumps({"instruments": report["instruments"], "realness": report["realness"],
                      "cross_entropy_per_note": report["model"]["cross_entropy_per_note"]}, indent=1))


if __name__ == "__main__":
    main()
