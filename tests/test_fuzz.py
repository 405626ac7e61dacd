"""Fuzzing the parser: generated and byte-mutated MIDI files are parsed or skipped with a reason; none crashes or hangs.

Every file goes through parse_files as the parse stage runs it (worker processes, a time limit per file). The
counts of files tried, parsed and rejected are printed at the end of the run.
"""
from __future__ import annotations

import struct
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jukebox
from jukebox import parsing
from jukebox.parsing import MAX_QUARTERS, MAX_TRACKS, parse_files, read_piece
from tests import held
from tests.conftest import write_tune

# Per file, as parse_timeout. A file past it is a "timeout" record, which the test accepts as it accepts a skip:
# how many time out depends on the machine, and no assertion does.
FUZZ_TIMEOUT = 5
FUZZ = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def vlq(n: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def chunk(kind: bytes, body: bytes, length: int | None = None) -> bytes:
    return kind + struct.pack(">I", len(body) if length is None else length) + body


def midi_file(tracks: list[bytes], fmt: int = 1, division: int = 480, declared: int | None = None) -> bytes:
    """A MIDI file from track bodies (delta-time + event bytes, end of track included or not)."""
    header = chunk(b"MThd", struct.pack(">HHH", fmt, len(tracks) if declared is None else declared, division))
    return header + b"".join(chunk(b"MTrk", t) for t in tracks)


def notes_track(notes: list[tuple[int, int, int]], channel: int = 0) -> bytes:
    """A track body of notes (delta before it, length, pitch), one after another, ended properly."""
    body = b""
    for delta, length, pitch in notes:
        body += vlq(delta) + bytes([0x90 | channel, pitch, 80]) + vlq(length) + bytes([0x80 | channel, pitch, 0])
    return body + b"\x00\xff\x2f\x00"


PROJECT = Path(jukebox.__file__).resolve().parent


def project_bug(exc: BaseException, path: str | Path) -> str:
    """Where `exc` was raised when that is the project's own code (a bug), '' when music21 raised it.

    The project's own errors are ValueErrors naming the file (`raise ValueError(f"{path}: ...") from exc`); any other
    exception raised in a frame of jukebox/ (an IndexError in midi_io, a ValueError of max([])) is a bug that
    read_piece would otherwise file as "music21 failed on it".
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = Path(tb.tb_frame.f_code.co_filename).resolve() if tb else None
    if where is None or not where.is_relative_to(PROJECT):
        return ""
    if isinstance(exc, ValueError) and str(path) in str(exc):
        return ""
    return f"{type(exc).__name__}: {exc} raised at {where.relative_to(PROJECT)}:{tb.tb_lineno}"


def checked_read_piece(path):
    """read_piece, but a record with status "bug" when the project's own code raised inside it."""
    raised = []

    def watched(function):
        def call(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Exception as exc:
                raised.append(exc)
                raise
        return call

    originals = parsing.size_problem, parsing.read_music
    parsing.size_problem, parsing.read_music = map(watched, originals)
    try:
        record = read_piece(path)
    finally:
        parsing.size_problem, parsing.read_music = originals
    bugs = [bug for bug in (project_bug(exc, path) for exc in raised) if bug]
    return {"status": "bug", "reason": bugs[0]} if bugs else record


def test_a_bug_in_the_project_is_told_from_music21_failing():
    from music21 import midi

    from jukebox.midi_io import _q

    with pytest.raises(ValueError) as ours:
        _q("x")  # float("x") inside the project: a bug, though a ValueError
    assert "ValueError" in project_bug(ours.value, "f.mid") and "midi_io.py" in project_bug(ours.value, "f.mid")
    with pytest.raises(Exception) as theirs:
        midi.MidiFile().readstr(b"MThd\x00\x00\x00\x06 broken")
    assert project_bug(theirs.value, "f.mid") == ""
    deliberate = ValueError("f.mid: not a readable MIDI file")
    try:
        raise deliberate
    except ValueError as exc:
        assert project_bug(exc, "f.mid") == "", "the project's own error naming the file"


# --- generated files: plausible structure, absurd values ---------------------------------------------------------
deltas = st.one_of(st.integers(0, 960), st.sampled_from([0, 1, 2**14, 2**21 - 1, 2**27]))
channel = st.integers(0, 15)
byte7 = st.integers(0, 127)
event = st.one_of(
    st.tuples(channel, byte7, byte7).map(lambda t: bytes([0x90 | t[0], t[1], t[2]])),  # note on (velocity 0 = off)
    st.tuples(channel, byte7, byte7).map(lambda t: bytes([0x80 | t[0], t[1], t[2]])),  # note off
    st.tuples(byte7, byte7).map(lambda t: bytes([t[0], t[1]])),  # running status: data bytes without a status
    st.tuples(channel, byte7).map(lambda t: bytes([0xC0 | t[0], t[1]])),  # program change
    st.tuples(channel, byte7, byte7).map(lambda t: bytes([0xB0 | t[0], t[1], t[2]])),  # controller
    st.tuples(channel, byte7, byte7).map(lambda t: bytes([0xE0 | t[0], t[1], t[2]])),  # pitch bend
    st.integers(0, 2**24 - 1).map(lambda us: b"\xff\x51\x03" + us.to_bytes(3, "big")),  # tempo, 0 included
    st.tuples(st.integers(0, 255), st.integers(0, 255)).map(lambda t: bytes([0xFF, 0x58, 4, t[0], t[1], 24, 8])),
    st.tuples(st.integers(-128, 127), st.integers(0, 3)).map(lambda t: bytes([0xFF, 0x59, 2, t[0] & 0xFF, t[1]])),
    st.binary(max_size=40).map(lambda b: b"\xff\x03" + vlq(len(b)) + b),  # track name: any bytes, not UTF-8
    st.binary(max_size=20).map(lambda b: b"\xf0" + vlq(len(b)) + b),  # sysex
    st.just(b"\xff\x2f\x00"),  # end of track, maybe in the middle
    st.binary(min_size=1, max_size=6),  # garbage
)
track_body = st.lists(st.tuples(deltas, event), max_size=40).map(
    lambda events: b"".join(vlq(d) + e for d, e in events))
pitched_track = st.lists(st.tuples(st.integers(0, 960), st.integers(0, 960), byte7), min_size=1, max_size=30).map(
    notes_track)
generated = st.builds(
    lambda tracks, fmt, division, declared, end: midi_file([t + end for t in tracks], fmt, division, declared),
    st.lists(st.one_of(pitched_track, track_body), max_size=4),
    st.sampled_from([0, 1, 1, 1, 2, 7]),
    # 0xE728: 25 fps SMPTE time; 0: no time at all. Not 1 tick per quarter: long files within the caps would make
    # most examples run into the time limit, which test_a_file_past_the_time_limit... covers once.
    st.sampled_from([480, 96, 24, 0, 0x7FFF, 0xE728, 0x8000]),
    st.one_of(st.none(), st.integers(0, 2**16 - 1)),  # the header's track count may lie
    st.sampled_from([b"\x00\xff\x2f\x00", b""]),
)


# --- byte mutations of valid files --------------------------------------------------------------------------------
def mutate(data: bytes, draw) -> bytes:
    """One random damage: a flipped, overwritten, inserted, deleted or repeated stretch, a cut, or a lying length."""
    if not data:  # an earlier cut left nothing
        return draw(st.binary(min_size=1, max_size=16))
    kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "repeat", "truncate", "length"]))
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1:]
    if kind == "set":
        return data[:at] + bytes([draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x90, 0xF0]))]) + data[at + 1:]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=16)) + data[at:]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 16)):]
    if kind == "repeat":
        return data[:at] + data[at:at + draw(st.integers(1, 64))] * draw(st.integers(2, 50)) + data[at:]
    if kind == "truncate":
        return data[:at]
    starts = [i for i in range(len(data) - 8) if data[i:i + 4] in (b"MThd", b"MTrk")] or [0]
    where = draw(st.sampled_from(starts)) + 4
    return data[:where] + struct.pack(">I", draw(st.sampled_from([0, 1, 5, 2**31 - 1, 2**32 - 1]))) + data[where + 4:]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[bytes]:
    """Valid MIDI files to damage: music21-written tunes and a hand-built two-track file."""
    folder = tmp_path_factory.mktemp("seeds")
    tunes = [write_tune(folder / f"seed_{i}.mid", shift, repeats=2).read_bytes() for i, shift in enumerate([0, 5])]
    two_tracks = midi_file([notes_track([(0, 240, 60 + i) for i in range(12)]),
                            notes_track([(120, 120, 48 + i) for i in range(12)], channel=1)])
    return [*tunes, two_tracks]


def fuzz_files(folder: Path, seeds: list[bytes]) -> tuple[list[Path], list[Path]]:
    """Write the hypothesis-generated and the byte-mutated files into `folder`."""
    made: dict[str, list[Path]] = {"generated": [], "mutated": []}

    def keep(kind: str, data: bytes) -> None:
        path = folder / f"{kind}_{len(made[kind]):04d}.mid"
        path.write_bytes(data)
        made[kind].append(path)

    @FUZZ
    @given(generated)
    def write_generated(data):
        keep("generated", data)

    @FUZZ
    @given(st.data())
    def write_mutated(data):
        damaged = data.draw(st.sampled_from(seeds))
        for _ in range(data.draw(st.integers(1, 4))):
            damaged = mutate(damaged, data.draw)
        keep("mutated", damaged)

    write_generated()
    write_mutated()
    return made["generated"], made["mutated"]


def test_generated_and_mutated_files_are_parsed_or_skipped_with_a_reason(tmp_path, seeds, capsys, monkeypatch):
    generated_files, mutated_files = fuzz_files(tmp_path, seeds)
    files = generated_files + mutated_files
    # The pool's workers are forked from this process: they run checked_read_piece in place of read_piece.
    monkeypatch.setattr(parsing, "read_piece", checked_read_piece)
    started = time.perf_counter()
    records, _ = parse_files(files, jobs=2, timeout=FUZZ_TIMEOUT)
    seconds = time.perf_counter() - started

    assert [r["piece"] for r in records] == [f.name for f in files], "one record per file, in order"
    bugs = [f"{r['piece']}: {r['reason']}" for r in records if r["status"] == "bug"]
    assert not bugs, "the project's own code raised (not music21):\n" + "\n".join(bugs[:10])
    for record in records:
        assert record["status"] in ("kept", "skipped", "timeout"), f"{record['piece']}: {record}"
        if record["status"] == "kept":
            notes = record["notes"]
            assert notes and all(0 <= p <= 127 and on >= 0 and d >= 0 for on, d, p in notes), record["piece"]
        else:
            assert isinstance(record["reason"], str) and record["reason"].strip(), f"{record['piece']}: no reason"
    statuses = Counter(r["status"] for r in records)
    by_kind = {kind: Counter(r["status"] for r in records if r["piece"].startswith(kind))
               for kind in ("generated", "mutated")}
    with capsys.disabled():
        print(f"\nfuzz: tried {len(files)} files ({len(generated_files)} generated, {len(mutated_files)} mutated) "
              f"in {seconds:.0f} s: parsed {statuses['kept']}, rejected {statuses['skipped']} with a reason, "
              f"timed out {statuses['timeout']}, crashed 0; generated {dict(by_kind['generated'])}, "
              f"mutated {dict(by_kind['mutated'])}")
    assert statuses["kept"] > 0 and statuses["skipped"] > 0, "the fuzz reaches both outcomes"
    assert len(files) >= 250


def late_notes(tracks: int, quarter: int) -> bytes:
    """One note per track at `quarter` (1 tick per quarter): a tiny file, yet a long piece with many tracks."""
    return midi_file([notes_track([(quarter, 1, 60 + i % 12)]) for i in range(tracks)], division=1)


def test_absurd_files_are_refused_before_music21_reads_them(tmp_path, monkeypatch):
    long_piece = tmp_path / "long.mid"
    long_piece.write_bytes(late_notes(1, 2**27))  # 37 bytes, yet 2**27 quarter notes long
    many_tracks = tmp_path / "tracks.mid"
    many_tracks.write_bytes(midi_file([notes_track([(0, 480, 60)])] * (MAX_TRACKS + 1)))
    scores = []
    real = parsing.read_music
    monkeypatch.setattr(parsing, "read_music", lambda path: scores.append(path) or real(path))
    long_record, tracks_record = read_piece(long_piece), read_piece(many_tracks)
    assert scores == [], "music21 never built a score of either"
    assert long_record["status"] == "skipped" and f"more than {MAX_QUARTERS}" in long_record["reason"]
    assert tracks_record["status"] == "skipped" and f"{MAX_TRACKS + 1} tracks" in tracks_record["reason"]


def test_a_file_past_the_time_limit_is_skipped_and_its_worker_replaced(tmp_path, monkeypatch):
    """A file whose parse never ends on its own (tests/held.py), on any machine: only the time limit stops it."""
    slow = tmp_path / "slow.mid"
    slow.write_bytes(held.held_midi(write_tune(tmp_path / "tune.mid", 5).read_bytes(), tmp_path / "never-created"))
    good = [write_tune(tmp_path / f"good_{i}.mid", i) for i in range(3)]
    monkeypatch.setattr(parsing, "read_piece", held.read_piece)  # the pool's workers run it by reference
    records, _ = parse_files([slow, *good], jobs=1, timeout=3)
    assert records[0]["status"] == "timeout" and "parse_timeout = 3 s" in records[0]["reason"]
    assert [r["status"] for r in records[1:]] == ["kept"] * 3, \
        f"the one worker was replaced and parsed the rest: {[r.get('reason') for r in records[1:]]}"
