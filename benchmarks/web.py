"""Load benchmark of the web app on 127.0.0.1: concurrent POST /api/generate, and upload-to-first-sample time.

    # a fresh clone of this repository, a 20-file collection from music21's Bach chorales, then 20 requests at once
    python -m benchmarks.web --clone . --upload-corpus bach --files 20 --requests 20 --n-notes 500

    # an existing project with a trained genre
    python -m benchmarks.web --project . --genre celtic --requests 20 --n-notes 500

It starts `jukebox serve` (gunicorn and one worker) exactly as a user would, checks every answer (status 200, the
notes asked for, a MIDI file that downloads) and prints latency percentiles, with the machine's load average before
and after each part (on a shared machine the figures mean little without it). A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 900):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, response.read()


def _multipart(fields: dict[str, str], files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body (fields, then every file under the name `files`)."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    for name, data in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
                     f'Content-Type: audio/midi\r\n\r\n'.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _load() -> list[float]:
    """The 1-, 5- and 15-minute load averages, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def upload_collection(url: str, genre: str, files: list[tuple[str, bytes]]) -> dict:
    """POST a collection and wait for its job; returns timings and the job."""
    body, content_type = _multipart({"name": genre}, files)
    started = time.perf_counter()
    status, answer = _call("POST", url + "/api/collections", body, {"Content-Type": content_type})
    job = json.loads(answer)
    assert status == 202, answer
    stages = {}
    while job["status"] in ("queued", "running"):
        time.sleep(2)
        job = json.loads(_call("GET", url + job["url"])[1])
        stages.setdefault(job["stage"], round(time.perf_counter() - started, 1))
    seconds = time.perf_counter() - started
    assert job["status"] == "succeeded", job["message"]
    return {"genre": genre, "files": len(files), "upload_to_first_sample_s": round(seconds, 1),
            "stage_started_at_s": {k: v for k, v in stages.items() if k}, "epochs": job["progress"].get("epoch")}


def generate_load(url: str, genre: str, requests: int, n_notes: int) -> dict:
    """`requests` concurrent POST /api/generate (distinct seeds and settings), then each again alone.

    Every answer is checked (status, notes, a MIDI file that downloads), and each concurrent answer must be the very
    MIDI file its request gets alone: batching may change how long a request takes, never what it composes.
    """

    def settings(i: int) -> dict:
        # Different temperatures, top-k and top-p per request, as different listeners choose them.
        return {"genre": genre, "n_notes": n_notes, "seed": i, "temperature": (0.7, 1.0, 1.2, 0.0)[i % 4],
                "top_k": (0, 8, 0, 0)[i % 4], "top_p": (1.0, 1.0, 0.9, 1.0)[i % 4]}

    def one(i: int) -> tuple[float, bytes]:
        body = json.dumps(settings(i)).encode()
        started = time.perf_counter()
        status, answer = _call("POST", url + "/api/generate", body, {"Content-Type": "application/json"})
        elapsed = time.perf_counter() - started
        sample = json.loads(answer)
        assert status == 200 and sample["n_notes"] == n_notes and sample["seed"] == i, answer[:500]
        midi_status, midi = _call("GET", url + sample["urls"]["midi"])
        assert midi_status == 200 and midi.startswith(b"MThd")
        return elapsed, midi

    from jukebox.web.composing import batch_size

    one(10_000)  # the first request loads the model and compiles its loop; users see that once per genre
    for size in sorted({batch_size(n) for n in range(2, requests + 1)}):  # and each batch size compiles once
        count = min(size, requests)  # 20 requests pad to 24 rows: 20 at once compile that size
        with ThreadPoolExecutor(max_workers=count) as pool:
            list(pool.map(one, range(10_000, 10_000 + count)))
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=requests) as pool:
        together = list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    load_concurrent = _load()  # the 1-minute figure covers the burst
    alone = [one(i) for i in range(requests)]
    different = [i for i in range(requests) if together[i][1] != alone[i][1]]
    assert not different, f"requests {different} composed something else in company than alone"
    latencies, single = [t for t, _ in together], [t for t, _ in alone]
    return {"genre": genre, "requests": requests, "n_notes": n_notes, "all_correct": True,
            "each_equal_to_alone": True,
            "p50_s": round(percentile(latencies, 50), 2), "p95_s": round(percentile(latencies, 95), 2),
            "max_s": round(max(latencies), 2), "mean_s": round(statistics.mean(latencies), 2),
            "load_after_concurrent": load_concurrent,
            "wall_s": round(wall, 1), "samples_per_minute": round(60 * requests / wall, 1),
            "one_request_p50_s": round(percentile(single, 50), 2),
            "one_request_p95_s": round(percentile(single, 95), 2)}


def corpus_files(collection: str, count: int, seed: int) -> list[tuple[str, bytes]]:
    """`count` pieces of a music21 corpus collection as MIDI files (what a user would upload)."""
    from jukebox.sources import export_corpus

    with tempfile.TemporaryDirectory() as tmp:
        records = export_corpus(collection, Path(tmp), count, seed)
        return [(r["file"], (Path(tmp) / r["file"]).read_bytes()) for r in records if r["status"] == "kept"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--project", type=Path, help="a project with a trained genre (give --genre)")
    where.add_argument("--clone", type=Path, help="git-clone this repository into a scratch folder and use that")
    parser.add_argument("--genre", help="the trained genre to compose in (default: the uploaded one)")
    parser.add_argument("--upload-corpus", help="first upload --files pieces of this music21 collection (e.g. bach)")
    parser.add_argument("--files", type=int, default=20, help="pieces to upload (default 20)")
    parser.add_argument("--requests", type=int, default=20, help="concurrent generate requests (default 20)")
    parser.add_argument("--n-notes", type=int, default=500, help="notes per sample (default 500)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)

    project = args.project
    if args.clone:
        project = Path(tempfile.mkdtemp(prefix="jukebox-bench-")) / "project"
        subprocess.run(["git", "clone", "-q", str(args.clone.resolve()), str(project)], check=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "jukebox.cli", "--project", str(project), "serve", "--port",
                               str(port)], cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict = {"project": str(project)}
    try:
        for _ in range(120):
            try:
                _call("GET", url + "/api/genres", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        genre = args.genre
        if args.upload_corpus:
            genre = genre or f"bench-{args.upload_corpus.lower()}"
            files, load_before = corpus_files(args.upload_corpus, args.files, 42), _load()
            results["upload"] = {**upload_collection(url, genre, files), "load_before": load_before,
                                 "load_after": _load()}
            print(json.dumps(results["upload"]), flush=True)
        if not genre:
            parser.error("give --genre, or --upload-corpus to make one")
        load_before = _load()
        results["generate"] = {**generate_load(url, genre, args.requests, args.n_notes), "load_before": load_before,
                               "load_after": _load(), "cores": os.cpu_count()}
        print(json.dumps(results["generate"]), flush=True)
    finally:
        server.send_signal(2)
        server.wait(60)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
