"""The job queue on Redis: Debian's redis-server on a free loopback port, a job run by a worker through RedisHuey.

The same path as tests/test_web_jobs.py takes with SQLite: the web app queues a collection's pipeline, a separate
worker process picks it up from Redis, runs it through DVC and writes the job's record back to Redis.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.test_web_browser import free_port
from tests.test_web_jobs import stop, tunes, upload, wait_for

# Longer than the suite's 300 s (pyproject.toml): the first test of a run to need the trained project builds it
# through `dvc repro` (conftest.trained_template), then runs dvc or a browser on it itself.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def _missing(reason: str):
    # CI installs redis-server and the redis package (scripts/setup), so there a missing one is a failure.
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, but CI must run the Redis test: scripts/setup installs it")
    pytest.skip(f"{reason} (scripts/setup installs it)")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A throw-away redis-server on 127.0.0.1, nothing saved to disk, stopped when the module ends."""
    server = shutil.which("redis-server")
    if server is None:
        _missing("Debian's redis-server is not installed")
    try:
        import redis
    except ImportError:
        _missing("the Python package redis is not installed")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                                "no", "--dir", str(folder)], stdout=open(folder / "redis.log", "w"),
                               stderr=subprocess.STDOUT)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.1)
    else:
        process.kill()
        raise AssertionError(f"redis-server did not answer:\n{(folder / 'redis.log').read_text()[-2000:]}")
    yield url
    process.terminate()
    process.wait(10)


def test_a_job_runs_through_redis_huey(trained_project, redis_url, tmp_path):
    import redis

    from jukebox.web import create_app

    client = create_app({"PROJECT": str(trained_project), "REDIS_URL": redis_url}).test_client()
    jobs = client.application.extensions["jukebox"].jobs
    assert type(jobs.huey).__name__ == "RedisHuey"
    job = upload(client, "via-redis", tunes(tmp_path, 6))
    assert job["status"] == "queued"
    assert redis.Redis.from_url(redis_url).keys("*jukebox*"), "the job waits in Redis, not in a SQLite file"
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "jukebox.cli", "--project", str(trained_project), "worker",
                               "--redis-url", redis_url], stdout=open(log, "w"), stderr=subprocess.STDOUT)
    try:
        done = wait_for(client, job["id"], lambda j: j["status"] not in ("queued", "running"))
    finally:
        stop(worker)
    assert done["status"] == "succeeded", (done["message"], log.read_text()[-3000:])
    assert done["progress"]["epoch"] == 1 and done["samples"], "the worker's record came back through Redis"
    genres = {g["name"]: g for g in client.get("/api/genres").get_json()["genres"]}
    assert genres["via-redis"]["ready"] and genres["via-redis"]["dataset"]["files"] == 6
    # A second app on the same Redis (another machine's web server) sees the same finished job.
    other = create_app({"PROJECT": str(trained_project), "REDIS_URL": redis_url}).test_client()
    assert other.get(job["url"]).get_json()["status"] == "succeeded"
