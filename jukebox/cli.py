"""The `jukebox` command: compose with a trained genre model, outside DVC."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from .params import ParamError, load_params

log = logging.getLogger("jukebox.cli")


def _generate(args: argparse.Namespace) -> None:
    from .dataset import window_starts, windows
    from .generation import Composer
    from .artifacts import read_npy

    params = load_params(args.project / "params.yaml")
    params.genre(args.genre)
    composer = Composer.load(args.project / "models" / args.genre)
    seed = params.seed if args.seed is None else args.seed
    if args.primer:
        primer = composer.primer(args.primer)[None, :]
    else:
        val = read_npy(args.project / "data/sequences" / args.genre / "val.npy")
        start = np.random.default_rng(seed).choice(window_starts(len(val), composer.seq_len, len(val)))
        primer, _ = windows(val, np.array([start]), composer.seq_len)
    temperature = params.temperature if args.temperature is None else args.temperature
    n_notes = args.n_notes or params.n_notes
    tokens = composer.compose(primer, n_notes, temperature, seed)[0]
    composer.write_midi(tokens, args.out)
    print(f"wrote {args.out} ({n_notes} notes, genre {args.genre}, temperature {temperature}, seed {seed})")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `jukebox` command."""
    parser = argparse.ArgumentParser(prog="jukebox", description=__doc__)
    parser.add_argument("--project", type=Path, default=Path("."), help="project folder (default: current)")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="compose a piece with a genre's trained model")
    gen.add_argument("--genre", required=True, help="a genre from params.yaml that has been trained")
    gen.add_argument("--primer", type=Path, help="MIDI file whose opening starts the piece (default: a validation window)")
    gen.add_argument("--temperature", type=float, help="0 = most likely note; higher = more adventurous")
    gen.add_argument("--n-notes", type=int, help="notes to compose (default: n_notes in params.yaml)")
    gen.add_argument("--seed", type=int, help="random seed (default: seed in params.yaml)")
    gen.add_argument("--out", type=Path, required=True, help="MIDI file to write")
    gen.set_defaults(run=_generate)
    return parser


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `jukebox` command."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ParamError, FileNotFoundError, ValueError) as exc:
        sys.exit(f"jukebox: {exc}")


if __name__ == "__main__":
    main()
