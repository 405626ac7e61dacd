"""The JSON API behind the pages, for scripts: genres, generate, collections, jobs."""
from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from . import JSON_MAX_BYTES

from .jobs import training_notes
from .forms import JSONFieldError, field_limit, first_error, generate_form, json_formdata
from .services import services
from .uploads import UploadError

api = Blueprint("api", __name__, url_prefix="/api")


def _error(status: int, field: str | None, message: str, limit: dict | None = None):
    body = {"error": f"{field}: {message}" if field else message, "field": field}
    if limit:
        body["limit"] = limit
    return jsonify(body), status


def _with_urls(genre: dict) -> dict:
    base = url_for("pages.generated_file", genre=genre["name"], name="")
    samples = [{**s, "urls": {kind: base + name for kind, name in s["files"].items() if name}}
               for s in genre["samples"]]
    return {**genre, "samples": samples}


def _job(record: dict) -> dict:
    public = {k: v for k, v in record.items() if k not in ("task_id", "child", "worker")}
    public["worker_running"] = record.get("worker") != "none"
    public["training_notes"] = training_notes(record)
    public.update(services().job_story(record))
    public["url"] = url_for("api.job", job_id=record["id"])
    public["page"] = url_for("pages.job", job_id=record["id"])
    if record["status"] == "succeeded":
        genre = services().genre(record["genre"])
        public["samples"] = _with_urls(genre)["samples"] if genre else []
    return public


@api.get("/genres")
def genres():
    """Every genre: dataset figures, training metrics, whether it is ready, its samples with their URLs."""
    return jsonify({"genres": [_with_urls(g) for g in services().genres()]})


@api.post("/generate")
def generate():
    """Compose a sample: JSON or form fields genre, n_notes, temperature, top_k, top_p, seed; optional file `primer`."""
    s = services()
    form_class = generate_form(s.max_notes)
    if request.files or request.form:
        form = form_class(meta={"csrf": False})
    else:  # a JSON body (what scripts send), or none
        body = request.get_data()
        if len(body) >= JSON_MAX_BYTES:  # a body without a length stops at the limit: a full one went past it
            raise RequestEntityTooLarge()
        try:
            form = form_class(formdata=json_formdata(body, form_class(formdata=None, meta={"csrf": False})),
                              meta={"csrf": False})
        except JSONFieldError as exc:
            empty = form_class(formdata=None, meta={"csrf": False})
            return _error(400, exc.field or None, exc.message, field_limit(empty, exc.field) if exc.field else None)
    form.genre.choices = [(g["name"], g["name"]) for g in s.genres() if g["ready"]]
    if not form.validate():
        field, message, limit = first_error(form)
        return _error(404 if field == "genre" and form.genre.data else 400, field, message, limit)
    primer = request.files.get("primer")
    upload = (primer.filename or "primer.mid", primer.read()) if primer else None

    sampling = s.sampling(form.n_notes.data, form.temperature.data, form.top_k.data, form.top_p.data, form.seed.data)
    try:
        sample = s.compose(form.genre.data, sampling, upload)
    except UploadError as exc:
        return _error(exc.status, exc.field, exc.message, exc.limit)
    base = url_for("pages.sample_file", sample_id=sample["id"], name="")
    return jsonify({**sample, "urls": {kind: base + name for kind, name in sample["files"].items() if name}})


@api.post("/collections")
def collections():
    """Add a genre from multipart fields `name`, `files` (MIDI files or one zip) and optionally `instruments` (keep,
    the default, or merge) and `drums` (true, the default, or false); 202 with its job."""
    uploads = [(f.filename or "", f.stream) for f in request.files.getlist("files")]
    choices = {key: request.form.get(key) for key in ("instruments", "drums")}
    try:
        job = services().create_collection(request.form.get("name", ""), uploads, choices)
    except UploadError as exc:
        return _error(exc.status, exc.field, exc.message, exc.limit)
    body = _job(job)
    return jsonify(body), 202, {"Location": body["url"]}


@api.get("/jobs/<job_id>")
def job(job_id: str):
    """A job: status, stage, training progress (epoch, loss, val_loss), message; its samples once it succeeded."""
    record = services().jobs.get(job_id)
    if record is None:
        return _error(404, None, f"no job {job_id!r}")
    return jsonify(_job(record))


@api.post("/jobs/<job_id>/<action>")
def job_action(job_id: str, action: str):
    """POST /api/jobs/<id>/cancel, /retry or /remove (an ended job: its record is forgotten)."""
    jobs = services().jobs
    if action not in ("cancel", "retry", "remove"):
        return _error(404, None, f"unknown action {action!r}; use cancel, retry or remove")
    try:
        record = {"cancel": jobs.cancel, "retry": jobs.retry, "remove": jobs.remove}[action](job_id)
        if action == "remove":
            return jsonify({"id": job_id, "removed": True})
    except KeyError:
        return _error(404, None, f"no job {job_id!r}")
    except ValueError as exc:
        return _error(409, None, str(exc))
    return jsonify(_job(record))


@api.post("/genres/<name>/remove")
def remove_genre(name: str):
    """Remove a genre the app made: its files, outputs, DVC records and jobs (as cancelling its job does)."""
    try:
        services().remove_genre(name)
    except KeyError:
        return _error(404, None, f"no genre {name!r}")
    except ValueError as exc:
        return _error(409, None, str(exc))
    return jsonify({"name": name, "removed": True})
