"""Where a project keeps everything: one object names every path, so no other module spells one.

dvc.yaml names the same folders as its stages' outputs (DVC reads paths from there, not from Python); a test checks
that the two agree.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Every folder the pipeline writes per genre, relative to the project; a genre the app made is removed from all.
GENRE_FOLDERS = ("data/raw", "data/notes", "data/sequences", "data/generated", "data/listening", "models", "metrics")


@dataclass(frozen=True)
class Layout:
    """The paths of one project (a checkout holding dvc.yaml and params.yaml)."""

    root: Path = Path(".")

    @classmethod
    def of(cls, root: str | Path = ".") -> "Layout":
        """The layout of the project at `root`."""
        return cls(Path(root))

    # The project's own files.
    @property
    def params(self) -> Path:
        return self.root / "params.yaml"

    @property
    def app_genres(self) -> Path:
        """The web app's genre table, merged with params.yaml's (jukebox.params.APP_GENRES names it)."""
        return self.root / "app_genres.yaml"

    @property
    def dvc_yaml(self) -> Path:
        return self.root / "dvc.yaml"

    @property
    def dvc_lock(self) -> Path:
        return self.root / "dvc.lock"

    # Per-genre pipeline outputs, in the order the stages write them.
    def raw(self, genre: str) -> Path:
        """scrape: the genre's MIDI files and manifest.json."""
        return self.root / "data" / "raw" / genre

    @property
    def downloads(self) -> Path:
        """scrape's cache of web downloads (not a DVC output, so a rerun resumes)."""
        return self.root / "data" / "downloads"

    def notes(self, genre: str) -> Path:
        """parse: pieces.jsonl and summary.json."""
        return self.root / "data" / "notes" / genre

    def pieces(self, genre: str) -> Path:
        return self.notes(genre) / "pieces.jsonl"

    def sequences(self, genre: str) -> Path:
        """sequences: train.npy, val.npy, vocab.json and the split's piece lists."""
        return self.root / "data" / "sequences" / genre

    def vocabulary(self, genre: str) -> Path:
        """sequences, with a fixed vocabulary (`vocabulary: fixed`, or remi_plus): the encoding's tokens and settings."""
        return self.sequences(genre) / "vocabulary.json"

    def train_tokens(self, genre: str) -> Path:
        return self.sequences(genre) / "train.npy"

    def val_tokens(self, genre: str) -> Path:
        return self.sequences(genre) / "val.npy"

    @property
    def models(self) -> Path:
        """Every genre's trained model, one folder each."""
        return self.root / "models"

    def model(self, genre: str) -> Path:
        """train: model.keras and config.json."""
        return self.models / genre

    @property
    def base_model(self) -> Path:
        """pretrain: the base model every genre may start from (model.keras, config.json, vocabulary.json).

        `_base`: a genre's name starts with a letter, so no genre can take this folder."""
        return self.models / "_base"

    @property
    def base_metrics(self) -> Path:
        """pretrain: the base's corpus figures (corpus.json, with the pieces kept out for leakage) and training."""
        return self.root / "metrics" / "_base"

    def generated(self, genre: str) -> Path:
        """generate: samples (MIDI, audio, piano roll, score), samples.json, pieces.json, index.html."""
        return self.root / "data" / "generated" / genre

    def listening(self, genre: str) -> Path:
        """listen: the listening test's excerpt pairs (opaque-named .flac files) and pairs.json."""
        return self.root / "data" / "listening" / genre

    def metrics(self, genre: str) -> Path:
        """data.json, evaluate.json, headline.json, pitch_classes.csv, and train/ (dvclive)."""
        return self.root / "metrics" / genre

    def train_metrics(self, genre: str) -> Path:
        """dvclive's folder for the genre's training: metrics.json and plots/."""
        return self.metrics(genre) / "train"

    @property
    def listening_reports(self) -> Path:
        """Every genre's listening-test figures, <genre>.json: one folder, so that dvc.yaml's top-level `metrics:`
        names it once for every genre (DVC takes no wildcards there); `_` keeps it apart from genre names."""
        return self.root / "metrics" / "_listening"

    def listening_report(self, genre: str) -> Path:
        return self.listening_reports / f"{genre}.json"

    def genre_folders(self, genre: str) -> list[Path]:
        """Every folder the pipeline writes for `genre`."""
        return [self.root / folder / genre for folder in GENRE_FOLDERS]

    # Caches outside DVC's outputs (DVC deletes an output before its stage runs; these survive it).
    @property
    def cache(self) -> Path:
        return self.root / ".jukebox-cache"

    @property
    def parse_cache(self) -> Path:
        """Parsed MIDI files by content hash."""
        return self.cache / "notes"

    @property
    def pretrain_exports(self) -> Path:
        """The base corpus's music21 collections exported as MIDI files, one folder per collection and choice."""
        return self.cache / "pretrain"

    def train_checkpoints(self, genre: str) -> Path:
        """The training state after each epoch, so an interrupted train resumes."""
        return self.cache / "train" / genre

    @property
    def benchmarks(self) -> Path:
        return self.cache / "benchmarks"

    # The web app.
    @property
    def collections(self) -> Path:
        """Uploaded collections, one folder per genre the app added."""
        return self.root / "collections"

    def collection(self, genre: str) -> Path:
        return self.collections / genre

    @property
    def state(self) -> Path:
        """The app's own files: the job database, composed samples, locks."""
        return self.root / ".jukebox"

    @property
    def jobs_db(self) -> Path:
        return self.state / "jobs.sqlite3"

    @property
    def votes_db(self) -> Path:
        """The listening test's answers (jukebox/votes.py), beside the job queue."""
        return self.state / "listening.sqlite3"

    @property
    def app_lock(self) -> Path:
        """One writer at a time for app_genres.yaml (the app adds genres, the worker removes failed ones)."""
        return self.state / "app_genres.lock"

    @property
    def app_samples(self) -> Path:
        """Pieces composed in the app, one folder each, pruned to samples_max_mb."""
        return self.state / "samples"
