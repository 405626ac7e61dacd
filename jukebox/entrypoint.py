"""The command-line edge of every stage: `python -m stages.<stage> <genre>` ends in one clear line, never a traceback.

A bad parameter, a missing input or a genre with too little data is the user's to fix, so it is reported as
`<stage>[<genre>]: <what is wrong and what to do>` with exit status 1; Ctrl-C exits with status 130. Anything
else is a bug and keeps its traceback.
"""
from __future__ import annotations

import sys
from typing import Callable, Sequence

INTERRUPTED = 130  # the shell's status for a run stopped by Ctrl-C (128 + SIGINT)


def error_line(stage: str, genre: str, exc: BaseException) -> str:
    """The one line a stage prints for an expected error."""
    if isinstance(exc, FileNotFoundError) and exc.filename:
        # Python's own message, "[Errno 2] No such file or directory: 'x'", says neither why nor what to do.
        message = (f"{exc.filename} does not exist; it is made by an earlier stage: run "
                   f"`dvc repro {stage}@{genre}`, which runs those first")
    else:
        message = str(exc)
    return f"{stage}[{genre}]: {message}"


def run_stage(stage: str, main: Callable[[str], None], argv: Sequence[str] | None = None) -> None:
    """Run `main(genre)` for the genre first in argv (default sys.argv[1:]); expected errors end in one line."""
    from .params import ParamError

    args = sys.argv[1:] if argv is None else list(argv)
    if not args:
        sys.exit(f"usage: python -m stages.{stage} <genre>  (a genre of params.yaml)")
    genre = args[0]
    from .params import is_genre_name

    if not is_genre_name(genre):
        # dvc.yaml quotes the name, but a stage run by hand, or a table DVC reads unchecked, could pass anything;
        # a name that is not a slug never reaches a path or a log line.
        sys.exit(f"{stage}: genre name {genre!r} is not a genre slug (a lowercase letter, then up to 31 lowercase "
                 "letters, digits, - or _); use a genre of params.yaml")
    try:
        main(genre)
    except KeyboardInterrupt:
        # Every output is written to a temporary name and renamed, so nothing half-written is left to clean up.
        print(f"{stage}[{genre}]: interrupted; its outputs are written atomically, so rerun it to finish",
              file=sys.stderr)
        sys.exit(INTERRUPTED)
    except (ParamError, FileNotFoundError, ValueError) as exc:
        sys.exit(error_line(stage, genre, exc))
