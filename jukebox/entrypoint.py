"""The command-line edge of every stage: `python -m stages.<stage> <genre>` ends in one clear line, never a traceback.

A bad parameter, a missing input or a genre with too little data is the user's to fix, so it is reported as
`<stage>[<genre>]: <what is wrong and what to do>` with exit status 1; Ctrl-C exits with status 130. Anything
else is a bug and keeps its traceback.

It also keeps TensorFlow quiet on a machine without a GPU (`quiet_tensorflow`, which `jukebox/__init__.py` calls
so that every front door, stage, `jukebox` command or web app, has it before TensorFlow loads).
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

INTERRUPTED = 130  # the shell's status for a run stopped by Ctrl-C (128 + SIGINT)

# What TensorFlow's C++ side prints on a machine with no CUDA driver while it loads: its probe for a GPU and
# absl's note that these lines came before logging was set up. Only these lines are dropped; any other passes.
NO_GPU_NOISE = re.compile(r"All log messages before absl::InitializeLog|cudart_stub\.cc|Could not find cuda drivers|"
                          r"cuInit|cuda_(platform|dnn|fft|blas)\.cc|cpu_feature_guard\.cc|"
                          r"rebuild TensorFlow with the appropriate compiler flags|oneDNN custom operations are on")
NVIDIA_DRIVER = (Path("/proc/driver/nvidia/version"), Path("/dev/nvidiactl"))


def has_nvidia_driver() -> bool:
    """Whether this machine has an NVIDIA driver loaded, i.e. whether TensorFlow can find a GPU at all."""
    return any(path.exists() for path in NVIDIA_DRIVER)


def quiet_tensorflow(gpu_driver: bool | None = None) -> None:
    """Silence TensorFlow's start-up chatter before it loads; on a GPU machine only its info and warnings.

    Nothing here hides a device (CUDA_VISIBLE_DEVICES is left alone): where a driver is found, errors keep
    showing, so a broken CUDA set-up is still reported. An explicit TF_CPP_MIN_LOG_LEVEL wins (0 or 1 shows all).
    """
    gpu_driver = has_nvidia_driver() if gpu_driver is None else gpu_driver
    # 2 drops INFO and WARNING (the oneDNN and CPU-instruction notices); 3 also the ERROR "failed call to
    # cuInit" that a CPU-only machine logs every time TensorFlow looks for a GPU it cannot have.
    level = os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if gpu_driver else "3")
    if not gpu_driver and level in ("2", "3") and "tensorflow" not in sys.modules \
            and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        # The CUDA probe logs while TensorFlow's libraries load, before it reads TF_CPP_MIN_LOG_LEVEL.
        sys.meta_path.insert(0, _QuietTensorFlowImport())


XLA_CACHE = "--tf_xla_persistent_cache_directory"
XLA_CACHE_BYTES = 512 * 2**20  # a compiled composing loop takes 5 to 20 MB; one per model shape and batch size


def xla_cache_folder() -> Path | None:
    """Where compiled composing loops are kept: $JUKEBOX_XLA_CACHE (empty: nowhere), else ~/.cache/jukebox/xla,
    in a folder of this TensorFlow version and CPU (a loop compiled for one CPU's instructions may not run on
    another's); None where TensorFlow's flag syntax cannot spell the path (whitespace in it)."""
    import hashlib
    import platform
    from importlib.metadata import PackageNotFoundError, version

    root = os.environ.get("JUKEBOX_XLA_CACHE")
    if root == "":
        return None
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jukebox" / "xla"
    try:
        cpu = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        cpu = ""
    described = [line for line in cpu.splitlines() if line.startswith(("model name", "flags", "Features"))][:2]
    try:
        tf_version = version("tensorflow")
    except PackageNotFoundError:
        tf_version = "none"
    tag = hashlib.sha256("\n".join([platform.machine(), *described]).encode()).hexdigest()[:12]
    folder = base / f"tf{tf_version}-{tag}"
    return None if any(c.isspace() for c in str(folder)) else folder


def cache_compiled_loops() -> None:
    """Have TensorFlow keep what XLA compiles on disk (its persistent compilation cache), before it loads.

    The composing loop (jukebox.generation) compiles in 3 to 5 s on a 2-core machine for every model shape and
    batch size, and every genre of one vocabulary shares a shape: with the cache, only the first process to compose
    compiles it, and each later generate stage, `jukebox generate` and web app worker loads it. The cache holds no
    weights (they are the compiled loop's arguments) and is pruned to its oldest 512 MB.
    """
    if "tensorflow" in sys.modules or XLA_CACHE in os.environ.get("TF_XLA_FLAGS", ""):
        return
    folder = xla_cache_folder()
    if folder is None:
        return
    from .artifacts import prune_oldest

    try:
        folder.mkdir(parents=True, exist_ok=True)
        prune_oldest(folder, XLA_CACHE_BYTES, spare_newer_than=600)
    except OSError:
        return  # a read-only home: compile every time, as without the cache
    os.environ["TF_XLA_FLAGS"] = f"{os.environ.get('TF_XLA_FLAGS', '')} {XLA_CACHE}={folder}".strip()


@contextmanager
def filtered_stderr(noise: re.Pattern) -> Iterator[None]:
    """Capture what C++ code and Python write to file descriptor 2, then pass on every line not matching noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not noise.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Loads the `tensorflow` package (whoever imports it first, e.g. keras) inside `filtered_stderr`."""

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the package's own imports take the ordinary path
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with filtered_stderr(NO_GPU_NOISE):
            self.loader.exec_module(module)

    def __getattr__(self, name):  # get_resource_reader, is_package, ...: the real loader's
        return getattr(self.loader, name)


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
    if getattr(main, "__module__", None) == "__main__" and "tensorflow" in sys.modules:
        exit_without_teardown()


def exit_without_teardown() -> None:
    """End a stage's process that has loaded TensorFlow, skipping the interpreter's teardown.

    Unloading TensorFlow takes about 2 s of a 2-core machine after every train, generate and evaluate, which a
    job's first sample waits for. Every output is written and renamed by now; the logs are flushed here.
    """
    import logging

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
