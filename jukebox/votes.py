"""The listening test's answers, one row each, in a database: SQLite beside the job queue by default, any server
database SQLAlchemy speaks (PostgreSQL, MySQL) when the app runs on several machines.

SQLAlchemy Core, not the ORM: two plain tables and a handful of statements, the same SQL on every database. No
personal data is kept: a session is a random id the browser's cookie holds, and nothing else about the listener.
"""
from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import (Column, Float, Integer, MetaData, String, Table, UniqueConstraint, create_engine, event,
                        func, insert, select)
from sqlalchemy.exc import IntegrityError

from .listening import ANSWERS

metadata = MetaData()
# Which order a session was given a pair in: chosen at random by the server when it first shows the pair, and kept
# here (not in the page or the cookie), so an answer is judged against the order the listener really heard.
served = Table(
    "served", metadata,
    Column("session", String(64), nullable=False),
    Column("genre", String(32), nullable=False),
    Column("pair", String(32), nullable=False),
    Column("left_id", String(32), nullable=False),
    Column("right_id", String(32), nullable=False),
    Column("real_side", String(8), nullable=False),
    Column("served_at", Float, nullable=False),
    UniqueConstraint("session", "genre", "pair"),
)
answers = Table(
    "answers", metadata,
    Column("id", Integer, primary_key=True),
    Column("genre", String(32), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("pair", String(32), nullable=False),
    Column("left_id", String(32), nullable=False),
    Column("right_id", String(32), nullable=False),
    Column("real_side", String(8), nullable=False),
    Column("answer", String(8), nullable=False),
    Column("rating_left", Integer),
    Column("rating_right", Integer),
    Column("answered_at", Float, nullable=False),
    Column("session", String(64), nullable=False),
    # One answer per pair per session, enforced by the database itself, whichever process or machine inserts it.
    UniqueConstraint("session", "genre", "pair"),
)


class AlreadyAnswered(ValueError):
    """This session has answered this pair already."""


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path).resolve()}"


class VoteStore:
    """The answers of a project's listening test, at a database URL."""

    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        metadata.create_all(self.engine)

    def serve(self, session: str, genre: str, pair: str, real_id: str, generated_id: str, real_left: bool) -> dict:
        """The order `session` hears `pair` in: the one stored when it was first served, else this one, stored."""
        with self.engine.begin() as db:
            row = self._served(db, session, genre, pair)
            if row is None:
                left, right = (real_id, generated_id) if real_left else (generated_id, real_id)
                try:
                    db.execute(insert(served).values(session=session, genre=genre, pair=pair, left_id=left,
                                                     right_id=right, real_side="left" if real_left else "right",
                                                     served_at=time.time()))
                except IntegrityError:  # another request of the same session served it a moment ago
                    pass
        with self.engine.connect() as db:
            return self._served(db, session, genre, pair)

    @staticmethod
    def _served(db, session: str, genre: str, pair: str) -> dict | None:
        row = db.execute(select(served).where(served.c.session == session, served.c.genre == genre,
                                              served.c.pair == pair)).mappings().first()
        return dict(row) if row else None

    def answer(self, session: str, genre: str, pair: str, answer: str, model_version: str,
               rating_left: int | None = None, rating_right: int | None = None) -> dict:
        """Store a session's answer to a pair it was served; AlreadyAnswered on a second answer, ValueError on a
        pair it was never served or an answer outside ANSWERS."""
        if answer not in ANSWERS:
            raise ValueError(f"answer {answer!r} must be one of {ANSWERS}")
        for rating in (rating_left, rating_right):
            if rating is not None and not 1 <= rating <= 5:
                raise ValueError(f"rating {rating!r} must be from 1 to 5")
        with self.engine.begin() as db:
            shown = self._served(db, session, genre, pair)
            if shown is None:
                raise ValueError(f"pair {pair!r} of genre {genre!r} was not served to this session; reload the page")
            row = {"genre": genre, "model_version": model_version, "pair": pair, "left_id": shown["left_id"],
                   "right_id": shown["right_id"], "real_side": shown["real_side"], "answer": answer,
                   "rating_left": rating_left, "rating_right": rating_right, "answered_at": time.time(),
                   "session": session}
            try:
                db.execute(insert(answers).values(**row))
            except IntegrityError:
                raise AlreadyAnswered(f"this session has answered pair {pair!r} already") from None
        return row

    def answered(self, session: str, genre: str) -> set[str]:
        """The pairs of `genre` that `session` has answered."""
        with self.engine.connect() as db:
            return set(db.scalars(select(answers.c.pair).where(answers.c.session == session,
                                                                answers.c.genre == genre)))

    def recent(self, session: str, since: float) -> int:
        """How many answers `session` gave after time `since` (seconds since the epoch)."""
        with self.engine.connect() as db:
            return db.scalar(select(func.count()).select_from(answers).where(answers.c.session == session,
                                                                             answers.c.answered_at > since))

    def answers(self, genre: str | None = None) -> list[dict]:
        """Every answer (of one genre, or all), oldest first."""
        query = select(answers).order_by(answers.c.id)
        if genre is not None:
            query = query.where(answers.c.genre == genre)
        with self.engine.connect() as db:
            return [dict(row) for row in db.execute(query).mappings()]


def _sqlite_pragmas(connection, _record) -> None:
    # WAL: readers never wait for the writer, and a committed answer survives a killed server; 5 s of patience for
    # the lock when the app's threads and a `jukebox listening-report` write at once.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def model_version(layout, genre: str) -> str:
    """The hash DVC recorded for the genre's model (train's output in dvc.lock), or "unrecorded" before any run."""
    import yaml

    try:
        lock = yaml.safe_load(layout.dvc_lock.read_text()) or {}
    except FileNotFoundError:
        return "unrecorded"
    for out in (lock.get("stages", {}).get(f"train@{genre}") or {}).get("outs", []):
        if out.get("path") == layout.model(genre).relative_to(layout.root).as_posix():
            return str(out.get("md5", "unrecorded")).removesuffix(".dir")
    return "unrecorded"


def write_report(layout, store: VoteStore, genre: str) -> dict:
    """Write metrics/_listening/<genre>.json: the figures of the genre's current model (dvc.lock's version)."""
    from .artifacts import write_json
    from .listening import report

    version = model_version(layout, genre)
    rows = [r for r in store.answers(genre) if r["model_version"] == version]
    figures = (report(rows) or [{"model_version": version, "answers": 0}])[0]
    figures = {k: v for k, v in figures.items() if k != "genre"}  # the file's name says it
    write_json(layout.listening_report(genre), figures)
    return figures
