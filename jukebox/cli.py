"""The `jukebox` command: compose with a trained genre model, outside DVC."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .headline import MEANINGS
from .params import ParamError, load_params

log = logging.getLogger("jukebox.cli")


def _generate(args: argparse.Namespace) -> None:
    from .generation import Sampling
    from .layout import Layout
    from .samples import compose

    layout = Layout.of(args.project)
    params = load_params(layout.params)
    genre = params.genre(args.genre)
    sampling = Sampling.chosen(params, args.n_notes, args.temperature, args.top_k, args.top_p, args.seed,
                               args.instruments)
    piece = compose(layout, genre, sampling, args.primer)[0]
    record = piece.write(args.out, render=args.render, soundfont=args.soundfont)
    print(f"wrote {args.out} ({record['n_notes']} notes, genre {args.genre}, temperature {sampling.temperature}, "
          f"top_k {sampling.top_k}, top_p {sampling.top_p}, seed {sampling.seed})")
    if args.render:
        written = [name for kind, name in record["files"].items() if name and kind != "midi"]
        print(f"wrote {', '.join(written)} beside it ({record['instrument']}, {genre.bpm:g} bpm, "
              f"{record['seconds']:g} s)")


def _at_least(low: float, kind: type = float):
    """An argparse type: a number of `kind` that is >= low."""
    def parse(text: str):
        value = kind(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"{text} is below {low}")
        return value
    return parse


def _instruments(text: str) -> tuple[str, ...]:
    from .instruments import parse_instruments

    try:
        return parse_instruments(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _share(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not in (0, 1]")
    return value


def _serve(args: argparse.Namespace) -> None:
    import os

    from .web.server import serve

    # Secrets and addresses are read here, at the edge; the app gets them as plain arguments.
    serve(args.project, args.host, args.port, os.environ.get("JUKEBOX_TOKEN") or None, args.allow_host,
          worker=not args.no_worker, redis_url=args.redis_url or os.environ.get("JUKEBOX_REDIS_URL"),
          proxies=args.proxies)


def _worker(args: argparse.Namespace) -> None:
    import os

    from .web.jobs import Jobs, make_huey

    project = args.project.resolve()
    Jobs(project, make_huey(project, args.redis_url or os.environ.get("JUKEBOX_REDIS_URL"))).run_worker()


def _compare(args: argparse.Namespace) -> None:
    from .headline import comparison_table, read_headlines

    if len(args.revisions) > 2:
        raise ValueError("compare takes at most two revisions: the one to compare against, then the new one")
    revs = list(args.revisions) + (["workspace"] if len(args.revisions) < 2 else [])
    by_rev = read_headlines(args.project, revs)
    if not any(by_rev.values()):
        raise ValueError(f"no headline metrics (metrics/<genre>/headline.json) in {', '.join(revs)}; "
                         "run `dvc repro` first, which writes them in the summarize stage")
    print(comparison_table(by_rev), end="")


def _listening_report(args: argparse.Namespace) -> None:
    import os

    from .layout import Layout
    from .listening import report
    from .votes import VoteStore, sqlite_url, write_report

    layout = Layout.of(args.project)
    url = args.votes_url or os.environ.get("JUKEBOX_VOTES_URL") or sqlite_url(layout.votes_db)
    if url.startswith("sqlite:///") and not layout.votes_db.is_file() and not args.votes_url:
        raise FileNotFoundError(f"{layout.votes_db}: no answers yet; open /listen in the web app (`jukebox serve`)")
    store = VoteStore(url)
    rows = report(store.answers())
    for genre in sorted({row["genre"] for row in rows}):
        write_report(layout, store, genre)  # metrics/_listening/<genre>.json, for `dvc metrics show`
    header = ("genre", "model", "answers", "unsure", "fooled", "95% interval", "rating real", "rating model",
              "sessions", "one-sided")
    cells = [header] + [(r["genre"], r["model_version"][:8], str(r["answers"]), str(r["unsure"]),
                         "-" if r["fooled"] is None else f"{r['fooled']:.0%}",
                         f"{r['fooled_low']:.0%}-{r['fooled_high']:.0%}", str(r["rating_real"] or "-"),
                         str(r["rating_generated"] or "-"), str(r["sessions"]), str(r["one_sided_sessions"]))
                        for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    if not rows:
        print("(no answers yet)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `jukebox` command."""
    parser = argparse.ArgumentParser(prog="jukebox", description=__doc__)
    parser.add_argument("--project", type=Path, default=Path("."), help="project folder (default: current)")
    commands = parser.add_subparsers(dest="command", required=True)

    gen = commands.add_parser("generate", help="compose a piece with a genre's trained model",
                              description="Compose a piece with a genre's trained model (the other settings come from params.yaml).")
    gen.add_argument("--genre", required=True, help="a genre from params.yaml that has been trained")
    gen.add_argument("--primer", type=Path, help="MIDI file whose opening starts the piece (default: a validation window)")
    gen.add_argument("--temperature", type=_at_least(0),
                     help="0 = always the most likely token (the 2018 argmax); higher = more adventurous")
    gen.add_argument("--top-k", type=_at_least(0, int), help="draw among the k most likely tokens only; 0 = off")
    gen.add_argument("--top-p", type=_share,
                     help="draw among the most likely tokens holding this share of probability only; 1 = off")
    gen.add_argument("--n-notes", type=_at_least(1, int), help="notes to compose (default: n_notes in params.yaml)")
    gen.add_argument("--seed", type=_at_least(0, int), help="random seed (default: seed in params.yaml)")
    gen.add_argument("--instruments", type=_instruments, default=(),
                     help="with a genre that keeps its instruments (remi_plus): only these, comma-separated "
                          "General MIDI families or programs, e.g. piano,bass,drums")
    gen.add_argument("--out", type=Path, required=True, help="MIDI file to write")
    gen.add_argument("--render", action="store_true",
                     help="also write FLAC audio (FluidSynth), a piano-roll .png and a .musicxml score beside --out")
    gen.add_argument("--soundfont", type=Path, help="General MIDI SoundFont for --render (default: the system one)")
    gen.set_defaults(run=_generate)

    web = commands.add_parser("serve", help="start the web app at http://127.0.0.1:8000, with one job worker")
    web.add_argument("--host", default="127.0.0.1", help="address to bind; any but 127.0.0.1 needs JUKEBOX_TOKEN")
    web.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    web.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                     help="another Host name the app may be reached by (e.g. behind a proxy); repeatable")
    web.add_argument("--proxies", type=_at_least(0, int), default=0, metavar="N",
                     help="reverse proxies in front of the app whose X-Forwarded-* headers to trust (default 0)")
    web.add_argument("--no-worker", action="store_true", help="start no job worker (run `jukebox worker` instead)")
    web.add_argument("--redis-url", help="share the job queue through Redis instead of .jukebox/jobs.sqlite3")
    web.set_defaults(run=_serve)
    worker = commands.add_parser("worker", help="run the web app's pipeline jobs (`jukebox serve` starts one)")
    worker.add_argument("--redis-url", help="the Redis queue the app uses (default: .jukebox/jobs.sqlite3)")
    worker.set_defaults(run=_worker)

    compare = commands.add_parser(
        "compare", help="every genre's headline figures side by side, optionally two revisions with the change",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Genres as rows, headline figures (metrics/<genre>/headline.json) as columns.\n\n"
                    + "\n".join(f"  {name:9} {meaning}" for name, meaning in MEANINGS.items()))
    compare.add_argument("revisions", nargs="*", metavar="REV",
                         help="none: the workspace; one: that revision, the workspace and the change; two: the "
                              "first, the second and the change (a commit, branch, tag or experiment name)")
    compare.set_defaults(run=_compare)

    listen = commands.add_parser(
        "listening-report", help="the listening test's figures per genre and model version (/listen in the web app)",
        description="Per genre and model version: answers, the share in which listeners took the model's excerpt "
                    "for the real one (fooled; 50%% = they cannot tell) with its exact 95%% interval, mean ratings, "
                    "and sessions that always answered one side. Also writes metrics/_listening/<genre>.json.")
    listen.add_argument("--votes-url", help="the answers' database, a SQLAlchemy URL (default: "
                                            ".jukebox/listening.sqlite3, or JUKEBOX_VOTES_URL)")
    listen.set_defaults(run=_listening_report)
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
