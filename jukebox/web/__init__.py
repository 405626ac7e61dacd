"""The web app: bring a collection of MIDI files, get new music in its style, listen in the browser.

`create_app` is the Flask app factory; `jukebox serve` calls it with explicit settings, a WSGI server such as
gunicorn calls it bare (`gunicorn 'jukebox.web:create_app()'`) and it reads the JUKEBOX_* environment variables.
"""
from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
from pathlib import Path
from typing import Any, Mapping

from flask import Flask, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from .jobs import Jobs, make_huey
from ..layout import Layout
from ..params import load_params
from ..votes import VoteStore, sqlite_url
from .composing import Studio
from .services import Services
from .uploads import Limits

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"]
# A body that is not an upload (JSON, a page's form) holds a few parameters: it needs a few hundred bytes, not the
# 50 MB of upload_max_bytes that a collection of MIDI files may need.
JSON_MAX_BYTES = 64_000


def settings_from_env(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """Settings from JUKEBOX_PROJECT, _TOKEN, _HOSTS (comma-separated), _SECRET_KEY, _REDIS_URL and _PROXIES.

    JUKEBOX_PROXIES is how many reverse proxies stand in front of the app (0, the default: none is trusted); with
    it the app reads the client's address, scheme and host from their X-Forwarded-* headers (Werkzeug's ProxyFix).
    """
    hosts = environ.get("JUKEBOX_HOSTS", "")
    proxies = environ.get("JUKEBOX_PROXIES", "").strip() or "0"
    if not proxies.isdigit():
        raise ValueError(f"JUKEBOX_PROXIES = {proxies!r} must be a whole number: how many reverse proxies stand in "
                         "front of the app (0 = none)")
    return {"PROJECT": environ.get("JUKEBOX_PROJECT", "."), "TOKEN": environ.get("JUKEBOX_TOKEN") or None,
            "TRUSTED_HOSTS": [h.strip() for h in hosts.split(",") if h.strip()] or None,
            "SECRET_KEY": environ.get("JUKEBOX_SECRET_KEY") or None, "REDIS_URL": environ.get("JUKEBOX_REDIS_URL"),
            "PROXIES": int(proxies), "VOTES_URL": environ.get("JUKEBOX_VOTES_URL") or None}


def create_app(settings: Mapping[str, Any] | None = None) -> Flask:
    """The app for one project; settings PROJECT, TOKEN (None: none asked), TRUSTED_HOSTS, SECRET_KEY, REDIS_URL,
    PROXIES (how many reverse proxies to trust for X-Forwarded-*; 0: none), VOTES_URL (the listening test's
    database, a SQLAlchemy URL; default .jukebox/listening.sqlite3), COLLECTION_SIZES (the measured collection
    sizes' JSON; default the package's jukebox/web/collection_sizes.json)."""
    settings = dict(settings_from_env() if settings is None else settings)
    project = Path(settings.get("PROJECT") or ".").resolve()
    params = load_params(Layout.of(project).params)
    app = Flask(__name__)
    if settings.get("PROXIES"):
        # Opt-in: trusting X-Forwarded-* from a client that is not the proxy would let it claim any address.
        hops = int(settings["PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    # The app's pages first, then the package's shared templates (the sample card of the listening page).
    app.jinja_loader = ChoiceLoader([FileSystemLoader(Path(__file__).parent / "templates"),
                                     PackageLoader("jukebox", "templates")])
    app.config.update(
        SECRET_KEY=settings.get("SECRET_KEY") or secrets.token_hex(32),
        # Werkzeug refuses a body over these limits from its headers, before reading it.
        MAX_CONTENT_LENGTH=params.upload_max_bytes,
        MAX_FORM_PARTS=params.upload_max_files + 16,
        # Requests naming another host are refused: a DNS-rebinding page cannot reach the app by its own name.
        TRUSTED_HOSTS=settings.get("TRUSTED_HOSTS") or LOOPBACK_HOSTS,
        WTF_CSRF_TIME_LIMIT=None,
        SESSION_COOKIE_SAMESITE="Strict",
        JUKEBOX_TOKEN=settings.get("TOKEN"),
        JUKEBOX_PROXIES=int(settings.get("PROXIES") or 0),
        JUKEBOX_UPLOAD_MAX_BYTES=params.upload_max_bytes,
        JUKEBOX_UPLOAD_MAX_FILES=params.upload_max_files,
        TESTING=bool(settings.get("TESTING")),
    )
    limits = Limits(params.upload_max_files, params.upload_max_bytes, params.upload_max_ratio)
    jobs = Jobs(project, make_huey(project, settings.get("REDIS_URL")))
    studio = Studio(project, params.primer_timeout, params.samples_max_mb, params.compose_timeout)
    app.extensions["jukebox"] = Services(project, jobs, studio, limits, params.generate_max_notes,
                                         **({"sizes_file": Path(settings["COLLECTION_SIZES"])}
                                            if settings.get("COLLECTION_SIZES") else {}))
    app.extensions["jukebox_votes"] = VoteStore(settings.get("VOTES_URL") or sqlite_url(Layout.of(project).votes_db))

    app.before_request(_guard)  # before CSRFProtect's own check: Host, cross-site and token come first
    app.before_request(_small_body)
    csrf = CSRFProtect(app)
    from .api import api
    from .listening import listening
    from .pages import pages

    csrf.exempt(api)  # scripts hold no CSRF token; the cross-site and token checks below guard the API
    app.register_blueprint(pages)
    app.register_blueprint(api)
    app.register_blueprint(listening)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(CSRFError, _csrf_failed)
    app.register_error_handler(SecurityError, _untrusted_host)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _error(status: int, message: str, field: str | None = None, limit: dict | None = None):
    if _wants_json():
        body = {"error": message, "field": field}
        if limit:
            body["limit"] = limit
        return jsonify(body), status
    return render_template("error.html", status=status, message=message), status


def _guard():
    """Every request: a trusted Host, no cross-site writes, and the token for writes when the app asks one."""
    request.host  # noqa: B018 - reading it checks TRUSTED_HOSTS (a 400 for any other Host)
    if request.method in SAFE_METHODS:
        return None
    # Browsers label every request with where it comes from; a form on another site must not reach us.
    fetch_site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    foreign_origin = origin is not None and origin != request.host_url.rstrip("/")
    if fetch_site not in (None, "same-origin", "none") or foreign_origin:
        return _error(403, f"cross-site request refused (Origin {origin!r}, Sec-Fetch-Site {fetch_site!r}); "
                           "use the app's own pages, or a script that sends no Origin")
    token = _app_token()
    if not token:
        # No token: writes only from this machine, judged by the connection's peer address (the Host header is
        # the client's to choose). Whichever server runs the app, gunicorn by hand included.
        if not _from_this_machine():
            return _error(403, f"this server takes uploads and generations from this machine only (the request came "
                               f"from {request.remote_addr}); its operator sets JUKEBOX_TOKEN to let other machines "
                               "in, or JUKEBOX_PROXIES behind a reverse proxy", "Authorization")
        return None
    if request.endpoint != "pages.login" and not _has_token(token):
        if _wants_json():
            return _error(401, "this server asks for a token: send the header `Authorization: Bearer <JUKEBOX_TOKEN>`",
                          "Authorization")
        return redirect(url_for("pages.login", next=request.path))
    return None


def _small_body():
    """Bodies other than multipart uploads get the small JSON_MAX_BYTES limit (Werkzeug refuses past it, chunked too)."""
    if request.method not in SAFE_METHODS and request.mimetype != "multipart/form-data":
        request.max_content_length = JSON_MAX_BYTES


def _from_this_machine() -> bool:
    """The request's peer is a loopback address, and no proxy the app was not told about forwarded it."""
    from flask import current_app

    if not current_app.config["JUKEBOX_PROXIES"] and "X-Forwarded-For" in request.headers:
        return False  # a proxy on this machine speaks for clients anywhere: without a token, trust none of them
    try:
        return ipaddress.ip_address((request.remote_addr or "").split("%")[0]).is_loopback
    except ValueError:
        return False  # no address (a Unix socket): the server's operator names the proxy or sets a token


def same_secret(sent: str, token: str) -> bool:
    """Compare a sent token with the app's in constant time; any characters (hmac refuses non-ASCII str)."""
    return hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), token.encode("utf-8", "surrogateescape"))


def _app_token() -> str | None:
    from flask import current_app

    return current_app.config.get("JUKEBOX_TOKEN")


def _has_token(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    sent = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    return bool(session.get("token_ok")) or (bool(sent) and same_secret(sent, token))


def _too_large(exc):
    from flask import current_app

    config = current_app.config
    max_bytes, max_files = config["JUKEBOX_UPLOAD_MAX_BYTES"], config["JUKEBOX_UPLOAD_MAX_FILES"]
    if request.mimetype != "multipart/form-data":
        size = request.content_length if request.content_length is not None else f"more than {JSON_MAX_BYTES}"
        return _error(413, f"the request body is {size} bytes; the limit for a JSON body is {JSON_MAX_BYTES} bytes: send "
                           "the parameters alone (a primer or MIDI files go as multipart/form-data)", None,
                      {"json_max_bytes": JSON_MAX_BYTES})
    if request.content_length is not None and request.content_length > current_app.config["MAX_CONTENT_LENGTH"]:
        message = (f"the upload is {request.content_length} bytes; the limit is upload_max_bytes = {max_bytes} "
                   "(params.yaml)")
        limit = {"upload_max_bytes": max_bytes}
    else:
        message = f"too many files in one upload; the limit is upload_max_files = {max_files} (params.yaml)"
        limit = {"upload_max_files": max_files}
    field = "primer" if request.path.endswith("generate") else "files"
    if not _wants_json() and request.endpoint == "pages.collection":
        from .pages import collection_page

        return collection_page({field: message}, 413)
    return _error(413, message, field, limit)


def _csrf_failed(exc: CSRFError):
    return _error(400, f"the form expired or came from elsewhere ({exc.description}); reload the page, send it again",
                  "csrf_token")


def _untrusted_host(exc: SecurityError):
    # No page around it: with an untrusted Host there is no URL to build links from.
    return jsonify({"error": f"{exc.description} Open the app at the address `jukebox serve` printed.",
                    "field": "Host"}), 400


def _http_error(exc: HTTPException):
    return _error(exc.code or 500, exc.description or exc.name)
