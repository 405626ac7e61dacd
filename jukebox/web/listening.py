"""The listening test's pages: /listen (which one did the model compose?), its audio, and /listen/report.

Excerpts come from the listen stage (data/listening/<genre>/: opaque-named .flac files and pairs.json, which is
never served); answers go to the VoteStore (jukebox/votes.py). The page learns a pair's id and two excerpt ids in
an order the server drew at random and stored, so nothing in it tells which is real.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import time

from flask import Blueprint, abort, current_app, redirect, render_template, send_from_directory, session, url_for

from ..layout import Layout
from ..listening import report
from ..params import is_genre_name
from ..votes import AlreadyAnswered, VoteStore, model_version, write_report
from .forms import ListenForm

listening = Blueprint("listening", __name__)
EXCERPT_ID = re.compile(r"\A[0-9a-f]{16}\Z")
# At most this many answers per session in RATE_WINDOW_S: two 8-bar excerpts take about half a minute to hear, so an
# attentive listener stays far below it, and a script clicking through is stopped after a few.
RATE_ANSWERS = 30
RATE_WINDOW_S = 600


def _layout() -> Layout:
    return Layout.of(current_app.extensions["jukebox"].project)


def _store() -> VoteStore:
    return current_app.extensions["jukebox_votes"]


def _listener() -> str:
    """The anonymous session id: random, kept in the signed session cookie, nothing else about the listener."""
    if "listener" not in session:
        session["listener"] = secrets.token_hex(16)
    return session["listener"]


def _pool(genre: str) -> list[dict]:
    """The genre's pairs from pairs.json; 404 for an unknown name or a genre without a pool yet."""
    if not is_genre_name(genre):
        abort(404, description=f"no genre called {genre!r}")
    path = _layout().listening(genre) / "pairs.json"
    if not path.is_file():
        abort(404, description=f"genre {genre!r} has no listening-test excerpts yet: its pipeline's listen stage "
                               "writes them (`dvc repro listen@{genre}`)")
    return json.loads(path.read_text())["pairs"]


def pools() -> dict[str, int]:
    """Genres that have excerpt pairs, and how many."""
    root = _layout().root / "data" / "listening"
    return {p.parent.name: len(json.loads(p.read_text())["pairs"])
            for p in sorted(root.glob("*/pairs.json")) if is_genre_name(p.parent.name)}


def _next_pair(genre: str, listener: str) -> dict | None:
    """The pair the listener hears next: one not yet answered, in an order of its own (shuffled per session)."""
    answered = _store().answered(listener, genre)
    left = [p for p in _pool(genre) if p["pair"] not in answered]
    if not left:
        return None
    pair = min(left, key=lambda p: hashlib.sha256(f"{listener}:{p['pair']}".encode()).hexdigest())
    # The order is drawn by the server and stored: an always-"left" listener is right half of the time.
    return _store().serve(listener, genre, pair["pair"], pair["real"], pair["generated"],
                          real_left=secrets.randbelow(2) == 0)


@listening.get("/listen")
def index():
    """The genres with a listening test, and a link to the report."""
    return render_template("listen_index.html", pools=pools())


@listening.route("/listen/<genre>", methods=["GET", "POST"])
def listen(genre: str):
    """Two excerpts, one real and one composed: which did the model compose? Then the next pair."""
    pool = _pool(genre)
    listener = _listener()
    form, status, message = ListenForm(), 200, ""
    if form.validate_on_submit():
        store = _store()
        if store.recent(listener, time.time() - RATE_WINDOW_S) >= RATE_ANSWERS:
            abort(429, description=f"more than {RATE_ANSWERS} answers in {RATE_WINDOW_S // 60} minutes from one "
                                   "session; take a break and come back")
        try:
            store.answer(listener, genre, form.pair.data, form.answer.data,
                         model_version(_layout(), genre), form.rating_left.data, form.rating_right.data)
        except AlreadyAnswered:
            message = "you had answered that pair already; here is the next one"
        except ValueError as exc:
            abort(400, description=str(exc))
        else:
            write_report(_layout(), store, genre)
            return redirect(url_for("listening.listen", genre=genre))
    elif form.is_submitted():
        status = 400
        message = "; ".join(f"{name}: {errors[0]}" for name, errors in form.errors.items())
    pair = _next_pair(genre, listener)
    done = len(_store().answered(listener, genre))
    form = ListenForm(formdata=None, pair=pair["pair"] if pair else "")
    return render_template("listen.html", genre=genre, pair=pair, form=form, done=done, total=len(pool),
                           message=message), status


@listening.get("/listen/<genre>/audio/<excerpt>.flac")
def audio(genre: str, excerpt: str):
    """An excerpt's audio, by its opaque id (only ids of the genre's pool)."""
    if not EXCERPT_ID.fullmatch(excerpt) or not any(excerpt in (p["real"], p["generated"]) for p in _pool(genre)):
        abort(404, description="no such excerpt")
    return send_from_directory(_layout().listening(genre), f"{excerpt}.flac", mimetype="audio/flac")


@listening.get("/listen/report")
def report_page():
    """Per genre and model version: answers, how often the sample passed for the real piece, ratings."""
    return render_template("listen_report.html", rows=report(_store().answers()))
