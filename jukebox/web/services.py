"""What the pages and the API share: the project's jobs, composer and limits, and the two actions that write."""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

from .app_genres import GenreExists, add_genre, app_genre_names, remove_genre, staging_folder
from ..encodings import get_encoding
from ..generation import Sampling
from .curve import loss_curve
from .jobs import Jobs, starting_point
from ..layout import Layout
from ..params import Params, is_genre_name, load_params
from .catalog import genre_summary, instruments_line, recorded_stages
from .collection_sizes import DATA_FILE, expectation, read_sizes
from .composing import Request, Studio
from .uploads import Limits, UploadError, collect_midi, collection_settings


@dataclass
class Services:
    """One project's moving parts, created by the app factory."""

    project: Path
    jobs: Jobs
    studio: Studio
    limits: Limits
    max_notes: int
    sizes_file: Path = DATA_FILE  # what collections of 5, 20, 100 files got (benchmarks/collection_sizes.py)

    def params(self) -> Params:
        """params.yaml and app_genres.yaml, read afresh (the app adds genres while it runs)."""
        return load_params(Layout.of(self.project).params)

    def genres(self, only: str | None = None) -> list[dict]:
        """Every genre (or the one called `only`) with its figures, metrics, samples and latest job."""
        params, recorded, app_made = self.params(), recorded_stages(self.project), set(app_genre_names(self.project))
        jobs = self.jobs.latest_by_genre()
        return [genre_summary(self.project, name, params, recorded, name in app_made, jobs.get(name))
                for name in params.genres if only in (None, name)]

    def genre(self, name: str) -> dict | None:
        """One genre as genres() shows it, or None."""
        found = self.genres(only=name)
        return found[0] if found else None

    def collection_sizes(self) -> dict | None:
        """The measured collection sizes, read afresh (None without the file)."""
        return read_sizes(self.sizes_file)

    def job_story(self, record: dict) -> dict:
        """What a job's page says beside its record: the training curve, where its model starts, and what its
        number of files got when measured."""
        return {"curve": loss_curve(record.get("progress") or {}, record.get("epochs")),
                "starting_point": starting_point(record),
                "expectation": expectation(self.collection_sizes(), record.get("files"), record.get("init")),
                "instruments": self.instruments_line(record["genre"])}

    def instruments_line(self, name: str) -> str:
        """What a genre does with its instruments, in a sentence ('' for a genre no longer in the tables)."""
        params = self.params()
        if name not in params.genres:
            return ""
        return instruments_line(self.project, params.genre(name), get_encoding(params.encoding).multitrack)

    def create_collection(self, name: str, uploads: list[tuple[str, BinaryIO]],
                          choices: dict[str, str | None] | None = None) -> dict:
        """Check and store an uploaded collection (names and streams) as a new genre and queue its pipeline;
        `choices` are the form's `instruments` (keep or merge) and `drums` (true or false), None for the default."""
        if not is_genre_name(name):
            raise UploadError("name", f"genre name {name!r} must be a short lowercase slug: a letter, then up to 31 "
                                      "letters, digits, - or _")
        if name in self.params().genres:
            raise UploadError("name", f"genre {name!r} exists already; choose another name", status=409)
        settings = collection_settings(choices or {})  # before a byte is stored
        staging = staging_folder(self.project, name)
        try:
            collect_midi(uploads, self.limits, staging)
            add_genre(self.project, name, staging, settings)
        except GenreExists as exc:
            raise UploadError("name", str(exc), status=409) from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already when add_genre moved it into place
        return self.jobs.submit(name)

    def remove_genre(self, name: str) -> None:
        """Remove a genre the app made, with everything its job wrote, and forget its jobs; KeyError if unknown."""
        if not is_genre_name(name) or name not in self.params().genres:
            raise KeyError(name)
        if name not in app_genre_names(self.project):
            raise ValueError(f"genre {name!r} is one of params.yaml's; the app removes only the genres it made")
        latest = self.jobs.latest_by_genre().get(name)
        if latest and latest["status"] not in ("succeeded", "failed", "cancelled"):
            raise ValueError(f"genre {name!r} has a {latest['status']} job; cancel the job (that removes the genre)")
        remove_genre(self.project, name)
        self.jobs.forget_genre(name)

    def sampling(self, n_notes: int | None = None, temperature: float | None = None, top_k: int | None = None,
                 top_p: float | None = None, seed: int | None = None, instruments=()) -> Sampling:
        """The form's values, else params.yaml's (n_notes within generate_max_notes)."""
        params = self.params()
        n_notes = min(params.n_notes, self.max_notes) if n_notes is None else n_notes
        return Sampling.chosen(params, n_notes, temperature, top_k, top_p, seed, instruments)

    def instruments(self, genres: list[str]) -> list[str]:
        """The instrument families the parsed pieces of `genres` with instruments keep play (the Generate page's
        checkboxes)."""
        from ..instruments import summary_families
        from ..layout import Layout

        params, found = self.params(), []
        for name in genres:
            if params.genre(name).instruments == "keep" and get_encoding(params.encoding).multitrack:
                summary = Layout.of(self.project).notes(name) / "summary.json"
                found += summary_families(json.loads(summary.read_text())) if summary.is_file() else []
        return list(dict.fromkeys(found))

    def compose(self, genre: str, sampling: Sampling, primer: tuple[str, bytes] | None = None) -> dict:
        """Compose one sample; a primer upload is read first, in the time-limited pool, before any model is used."""
        params = self.params()
        if sampling.instruments and (params.genre(genre).instruments != "keep"
                                     or not get_encoding(params.encoding).multitrack):
            raise UploadError("instruments", f"genre {genre!r} plays one instrument (instruments: keep, with encoding "
                                             "rhythm or remi_plus, chooses among several); leave the instruments "
                                             "unticked")
        request = Request(params.genre(genre), sampling)
        if primer is not None:
            name, data = primer
            with tempfile.TemporaryDirectory(prefix="jukebox-primer-") as tmp:
                path = Path(tmp) / "primer.mid"
                path.write_bytes(data)
                seq_len, tracks = self.studio.primer_reading(genre)
                record = self.studio.primers.opening(path, seq_len, name, tracks)
            request = dataclasses.replace(request, primer_record=record, primer_name=name)
        return self.studio.compose(request)


def services() -> Services:
    """The Services of the running app."""
    return current_app.extensions["jukebox"]
