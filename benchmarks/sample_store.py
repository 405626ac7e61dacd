"""The web app's sample store under a burst: is .jukebox/samples held under samples_max_mb at every moment?

    python -m benchmarks.sample_store --requests 200 --limit-mb 20 --n-notes 300

Composes `requests` samples, 20 at a time, through the app's Studio (the code POST /api/generate runs) in a tiny
trained genre (tests/tiny_genre.py), with FluidSynth writing each sample's FLAC as the app does. A thread measures
the store's size every 20 ms and after every sample; the report gives the largest size seen against the limit, and
the FLAC bytes per second of audio. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--limit-mb", type=int, default=20)
    parser.add_argument("--n-notes", type=int, default=300)
    parser.add_argument("--concurrent", type=int, default=20)
    args = parser.parse_args(argv)

    from jukebox.generation import Sampling
    from jukebox.web.composing import Studio
    from jukebox.web.services import Services
    from tests.tiny_genre import write_tiny_genre

    project = write_tiny_genre(Path(tempfile.mkdtemp(prefix="jukebox-store-")))
    studio = Studio(project, primer_timeout=10, samples_max_mb=args.limit_mb)
    services = Services(project, None, studio, None, 100_000)
    sizes, stop = [], threading.Event()

    def watch() -> None:
        while not stop.is_set():
            try:
                sizes.append(studio.store.size())
            except FileNotFoundError:
                continue  # a folder deleted while it was measured
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.perf_counter()
    records = []

    def one(i: int) -> dict:
        record = services.compose("tiny", Sampling(args.n_notes, 1.0, seed=i))
        sizes.append(studio.store.size())
        return record

    with ThreadPoolExecutor(args.concurrent) as pool:
        records = list(pool.map(one, range(args.requests)))
    studio._renderer.shutdown(wait=True)  # every sample's audio written (or its folder pruned first)
    stop.set()
    watcher.join()
    sizes.append(studio.store.size())
    studio.primers.close()
    limit = args.limit_mb * 1_000_000
    flac = [(r, studio.samples_dir / r["id"] / r["files"]["flac"]) for r in records if r["files"].get("flac")]
    rates = [p.stat().st_size / r["seconds"] for r, p in flac if p.is_file() and r.get("seconds")]
    report = {"requests": args.requests, "n_notes": args.n_notes, "limit_bytes": limit, "measurements": len(sizes),
              "max_bytes": max(sizes), "max_over_limit": round(max(sizes) / limit, 3), "final_bytes": sizes[-1],
              "samples_left": len(list(studio.samples_dir.iterdir())), "seconds": round(time.perf_counter() - started, 1),
              "flac_bytes_per_s_of_notes": round(sum(rates) / len(rates)) if rates else None,
              "sample_seconds": sorted({r.get("seconds") for r in records})[:5]}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
