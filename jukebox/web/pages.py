"""The pages: Home (every genre), Generate, Your collection, and a page per job."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from flask import (Blueprint, abort, current_app, redirect, render_template, request, send_from_directory, session,
                   url_for)

from ..layout import Layout
from ..params import is_genre_name
from ..parsing import MIN_PIECES
from . import same_secret
from .composing import SAMPLE_ID
from .collection_sizes import size_table
from .jobs import training_notes
from .forms import CollectionForm, TokenForm, generate_form, suggest_name
from .services import services
from .uploads import UploadError

pages = Blueprint("pages", __name__)
SERVED_SUFFIXES = (".mid", ".flac", ".wav", ".png", ".musicxml")
# Python's mimetypes says audio/sp-midi and nothing for MusicXML; a browser or score editor wants these.
MEDIA_TYPES = {".mid": "audio/midi", ".flac": "audio/flac", ".wav": "audio/wav", ".png": "image/png",
               ".musicxml": "application/vnd.recordare.musicxml+xml"}


@pages.get("/")
def home():
    """Every genre with its dataset figures, training metrics and samples, and the latest jobs."""
    return render_template("home.html", genres=services().genres(), jobs=services().jobs.all()[:8])


def _generate_form():
    s = services()
    form = generate_form(s.max_notes)()
    form.genre.choices = [(g["name"], g["name"]) for g in s.genres() if g["ready"]]
    form.instruments.choices = [(name, name) for name in s.instruments([name for name, _ in form.genre.choices])]
    if request.method == "GET":
        defaults = s.sampling()
        form.n_notes.data, form.temperature.data = defaults.n_notes, defaults.temperature
        form.top_k.data, form.top_p.data, form.seed.data = defaults.top_k, defaults.top_p, defaults.seed
    return form


@pages.route("/generate", methods=["GET", "POST"])
def generate():
    """Pick a genre and the sampling settings, optionally a primer; the new sample plays in the page."""
    form = _generate_form()
    sample, status, primer_name = None, 200, ""
    if form.validate_on_submit():
        primer = form.primer.data
        upload = (primer.filename or "primer.mid", primer.read()) if primer and primer.filename else None
        primer_name = upload[0] if upload else ""
        try:
            sampling = services().sampling(form.n_notes.data, form.temperature.data, form.top_k.data,
                                           form.top_p.data, form.seed.data, form.instruments.data or ())
            sample = services().compose(form.genre.data, sampling, upload)
        except UploadError as exc:
            getattr(form, exc.field, form.primer).errors = [exc.message]  # primer, or genre when it is busy
            status = exc.status
    elif request.method == "POST":
        status = 400
    # A browser never refills a file field: the page names the primer used, the other fields keep their values.
    return render_template("generate.html", form=form, sample=sample, primer_name=primer_name), status


def collection_page(errors: dict | None = None, status: int = 200):
    """The upload form, with messages next to the fields that refused the upload."""
    # Not bound to the request: after a 413 its body must not be read again.
    form = CollectionForm(formdata=None)
    for field, message in (errors or {}).items():
        getattr(form, field).errors = [message]
    return render_template("collection.html", form=form, **_collection_facts()), status


def _collection_facts() -> dict:
    """What the collection page tells before an upload: the limits, and how long this project's genres took to train."""
    trained = [g for g in services().genres() if g["training"].get("train_seconds") and g["dataset"].get("files")]
    sizes = services().collection_sizes()
    return {"limits": services().limits, "min_files": MIN_PIECES, "trained": trained, "sizes": sizes,
            "size_rows": size_table(sizes)}


def _refused_name(form: CollectionForm) -> None:
    """Beside a refused genre name, the slug it would make (`Folk Songs` -> `folk-songs`)."""
    if form.name.errors and form.name.data:
        suggestion = suggest_name(form.name.data)
        if suggestion and suggestion != form.name.data:
            form.name.errors = [f"{form.name.errors[0]}; try {suggestion!r}", *form.name.errors[1:]]
            form.name.suggestion = suggestion


@pages.route("/collections", methods=["GET", "POST"])
def collection():
    """Give a genre name and upload MIDI files (or one zip); a job then runs the genre's pipeline."""
    form = CollectionForm()
    if request.method == "GET":
        return collection_page()
    if not form.validate_on_submit():
        _refused_name(form)
        return render_template("collection.html", form=form, **_collection_facts()), 400
    uploads = [(f.filename or "", f.stream) for f in request.files.getlist(form.files.name)]
    try:
        job = services().create_collection(form.name.data, uploads,
                                           {"instruments": form.instruments.data, "drums": form.drums.data})
    except UploadError as exc:
        getattr(form, exc.field).errors = [exc.message]
        return render_template("collection.html", form=form, **_collection_facts()), exc.status
    return redirect(url_for("pages.job", job_id=job["id"]), 303)


@pages.get("/jobs/<job_id>")
def job(job_id: str):
    """A job, live: its stage, training progress, then the genre's samples."""
    record = services().jobs.get(job_id)
    if record is None:
        abort(404, f"no job {job_id!r}")
    genre = services().genre(record["genre"])
    return render_template("job.html", job=record, genre=genre, training_notes=training_notes(record),
                           **services().job_story(record))


@pages.post("/jobs/<job_id>/<action>")
def job_action(job_id: str, action: str):
    """Cancel, retry or remove a job from its page (CSRFProtect has checked the buttons' token)."""
    jobs = services().jobs
    try:
        if action == "cancel":
            jobs.cancel(job_id)
        elif action == "retry":
            jobs.retry(job_id)
        elif action == "remove":
            jobs.remove(job_id)
            return redirect(url_for("pages.home"), 303)
        else:
            abort(404)
    except KeyError:
        abort(404, f"no job {job_id!r}")
    except ValueError as exc:
        abort(409, str(exc))
    return redirect(url_for("pages.job", job_id=job_id), 303)


@pages.get("/jobs/<job_id>/remove")
def confirm_remove_job(job_id: str):
    """Ask before a job is removed from the list."""
    record = services().jobs.get(job_id)
    if record is None:
        abort(404, f"no job {job_id!r}")
    return render_template("remove.html", job=record, genre=None,
                           action=url_for("pages.job_action", job_id=job_id, action="remove"),
                           back=url_for("pages.job", job_id=job_id))


@pages.route("/genres/<name>/remove", methods=["GET", "POST"])
def remove_genre(name: str):
    """Ask, then remove a genre the app made: its uploads, outputs, DVC records and jobs."""
    genre = services().genre(name) if is_genre_name(name) else None
    if genre is None:
        abort(404, f"no genre {name!r}")
    if not genre["made_by_app"]:
        abort(409, f"genre {name!r} is one of params.yaml's; the app removes only the genres it made")
    if request.method == "POST":
        try:
            services().remove_genre(name)
        except ValueError as exc:
            abort(409, str(exc))
        return redirect(url_for("pages.home"), 303)
    return render_template("remove.html", genre=genre, job=None, action=url_for("pages.remove_genre", name=name),
                           back=url_for("pages.home") + f"#genre-{name}")


@pages.get("/files/<genre>/<name>")
def generated_file(genre: str, name: str):
    """A file of a ready genre's samples (data/generated/<genre>/)."""
    if not is_genre_name(genre) or not name.endswith(SERVED_SUFFIXES):
        abort(404)
    summary = services().genre(genre)
    if not (summary and summary["ready"]):
        abort(404, f"genre {genre!r} has no finished samples")
    return send_from_directory(Layout.of(services().project).generated(genre), name,
                               mimetype=MEDIA_TYPES[Path(name).suffix])


@pages.get("/samples/<sample_id>/<name>")
def sample_file(sample_id: str, name: str):
    """A file of a sample composed on the Generate page or by POST /api/generate (its score written when first
    asked for)."""
    if not SAMPLE_ID.fullmatch(sample_id) or not name.endswith(SERVED_SUFFIXES):
        abort(404)
    path = services().studio.sample_file(sample_id, name)
    if path is None:
        abort(404, f"sample {sample_id} has no file {name!r}")
    return send_from_directory(path.parent, path.name, mimetype=MEDIA_TYPES[path.suffix])


def local_target(target: str) -> str:
    """`target` if it is a path of this app, else the home page: read as a browser reads a Location header."""
    # Browsers drop tabs and newlines anywhere in a URL and read a backslash as a slash, so `/\t/evil.example`
    # and `/\\evil.example` both lead to another site; judge the URL the browser will see, not the raw string.
    seen = re.sub(r"[\t\n\r]", "", target).replace("\\", "/").strip("".join(map(chr, range(33))))
    parts = urlsplit(seen)
    if (parts.scheme or parts.netloc or not seen.startswith("/") or seen.startswith("//")
            or any(ord(c) < 32 or ord(c) == 127 for c in seen)):
        return "/"
    return seen


@pages.route("/login", methods=["GET", "POST"])
def login():
    """Ask for the access token once per browser session (only when the server was started with one)."""
    token = current_app.config.get("JUKEBOX_TOKEN")
    form = TokenForm()
    if token and form.validate_on_submit():
        if same_secret(form.token.data, token):
            session["token_ok"] = True
            return redirect(local_target(request.args.get("next", "/")), 303)
        form.token.errors = ["wrong token"]
    return render_template("login.html", form=form, needed=bool(token)), 200 if request.method == "GET" else 401
