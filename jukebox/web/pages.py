"""The pages: Home (every genre), Generate, Your collection, and a page per job."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, redirect, render_template, request, send_from_directory, session,
                   url_for)

from ..layout import Layout
from ..params import is_genre_name
from . import same_secret
from .composing import SAMPLE_ID
from .forms import CollectionForm, TokenForm, generate_form
from .services import services
from .uploads import UploadError

pages = Blueprint("pages", __name__)
SERVED_SUFFIXES = (".mid", ".flac", ".wav", ".png", ".musicxml")


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
    return render_template("collection.html", form=form, limits=services().limits), status


@pages.route("/collections", methods=["GET", "POST"])
def collection():
    """Give a genre name and upload MIDI files (or one zip); a job then runs the genre's pipeline."""
    form = CollectionForm()
    if request.method == "GET":
        return collection_page()
    if not form.validate_on_submit():
        return render_template("collection.html", form=form, limits=services().limits), 400
    uploads = [(f.filename or "", f.stream) for f in request.files.getlist(form.files.name)]
    try:
        job = services().create_collection(form.name.data, uploads)
    except UploadError as exc:
        getattr(form, exc.field).errors = [exc.message]
        return render_template("collection.html", form=form, limits=services().limits), exc.status
    return redirect(url_for("pages.job", job_id=job["id"]), 303)


@pages.get("/jobs/<job_id>")
def job(job_id: str):
    """A job, live: its stage, training progress, then the genre's samples."""
    record = services().jobs.get(job_id)
    if record is None:
        abort(404, f"no job {job_id!r}")
    genre = services().genre(record["genre"])
    return render_template("job.html", job=record, genre=genre)


@pages.post("/jobs/<job_id>/<action>")
def job_action(job_id: str, action: str):
    """Cancel or retry a job from its page (CSRFProtect has checked the buttons' token)."""
    jobs = services().jobs
    try:
        if action == "cancel":
            jobs.cancel(job_id)
        elif action == "retry":
            jobs.retry(job_id)
        else:
            abort(404)
    except KeyError:
        abort(404, f"no job {job_id!r}")
    except ValueError as exc:
        abort(409, str(exc))
    return redirect(url_for("pages.job", job_id=job_id), 303)


@pages.get("/files/<genre>/<name>")
def generated_file(genre: str, name: str):
    """A file of a ready genre's samples (data/generated/<genre>/)."""
    if not is_genre_name(genre) or not name.endswith(SERVED_SUFFIXES):
        abort(404)
    summary = services().genre(genre)
    if not (summary and summary["ready"]):
        abort(404, f"genre {genre!r} has no finished samples")
    return send_from_directory(Layout.of(services().project).generated(genre), name)


@pages.get("/samples/<sample_id>/<name>")
def sample_file(sample_id: str, name: str):
    """A file of a sample composed on the Generate page or by POST /api/generate (its score written when first
    asked for)."""
    if not SAMPLE_ID.fullmatch(sample_id) or not name.endswith(SERVED_SUFFIXES):
        abort(404)
    path = services().studio.sample_file(sample_id, name)
    if path is None:
        abort(404, f"sample {sample_id} has no file {name!r}")
    return send_from_directory(path.parent, path.name)


@pages.route("/login", methods=["GET", "POST"])
def login():
    """Ask for the access token once per browser session (only when the server was started with one)."""
    token = current_app.config.get("JUKEBOX_TOKEN")
    form = TokenForm()
    if token and form.validate_on_submit():
        if same_secret(form.token.data, token):
            session["token_ok"] = True
            target = request.args.get("next", "/")
            return redirect(target if target.startswith("/") and not target.startswith("//") else "/", 303)
        form.token.errors = ["wrong token"]
    return render_template("login.html", form=form, needed=bool(token)), 200 if request.method == "GET" else 401
