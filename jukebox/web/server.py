"""`jukebox serve`: the app under gunicorn (never Flask's debug server) with one job worker process beside it."""
from __future__ import annotations

import ipaddress
import logging
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from gunicorn.app.base import BaseApplication

from ..layout import Layout
from ..params import load_params

log = logging.getLogger("jukebox.serve")


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.1, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def trusted_hosts(host: str, extra: list[str]) -> list[str]:
    """The Host names requests may carry: the bound address, localhost for a loopback bind, and any named ones."""
    names = ["127.0.0.1", "localhost", "::1"] if is_loopback(host) else []
    if host not in ("0.0.0.0", "::") and host not in names:
        names.append(host)
    return names + [h for h in extra if h not in names]


class _Gunicorn(BaseApplication):
    """gunicorn's documented way to run an app from Python: options in, app built in the forked worker."""

    def __init__(self, settings: dict, options: dict):
        self.settings, self.options = settings, options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # an option older gunicorns lack is skipped, as gunicorn's own example does
                self.cfg.set(key, value)

    def load(self):
        from . import create_app

        return create_app(self.settings)


def serve(project: Path, host: str, port: int, token: str | None, hosts: list[str], threads: int = 8,
          worker: bool = True, redis_url: str | None = None, proxies: int = 0) -> None:
    """Serve the app at http://host:port with gunicorn, and run one job worker until Ctrl-C."""
    project = project.resolve()
    load_params(Layout.of(project).params)  # a broken params.yaml stops here, with its message, not in a worker
    if not is_loopback(host) and not token:
        raise SystemExit(f"jukebox serve: bound to {host}, other machines can reach the app; set JUKEBOX_TOKEN to a "
                         "secret of your choice (every upload and generation then asks for it), or bind 127.0.0.1")
    settings = {"PROJECT": str(project), "TOKEN": token, "TRUSTED_HOSTS": trusted_hosts(host, hosts),
                "SECRET_KEY": secrets.token_hex(32), "REDIS_URL": redis_url,
                "PROXIES": proxies}
    options = {"bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "workers": 1,
               "worker_class": "gthread", "threads": threads, "timeout": 120, "graceful_timeout": 10,
               "loglevel": "info", "proc_name": "jukebox-web",
               # gunicorn >= 25 opens a control socket in ~/.gunicorn; the app needs none, and two apps would share it
               "control_socket_disable": True}
    jobs = None
    if worker:
        # Its own session: Ctrl-C reaches serve alone, which then stops the worker with SIGTERM (jobs interrupted).
        command = [sys.executable, "-m", "jukebox.cli", "--project", str(project), "worker"]
        if redis_url:
            command += ["--redis-url", redis_url]
        jobs = subprocess.Popen(command, start_new_session=True)
    print(f"AI Jukebox: open http://{host if ':' not in host else f'[{host}]'}:{port} (Ctrl-C stops it)", flush=True)
    try:
        _Gunicorn(settings, options).run()
    finally:
        if jobs is not None:
            jobs.send_signal(signal.SIGTERM)
            try:
                jobs.wait(30)
            except subprocess.TimeoutExpired:
                jobs.kill()
