import json
import os
from pathlib import Path

import pytest

from jukebox import parsing
from jukebox.parsing import NoteCache, parse_files, parser_version, read_piece
from tests.conftest import write_tune


@pytest.fixture
def files(midi_folder: Path) -> list[Path]:
    broken = midi_folder / "broken.mid"
    broken.write_bytes(b"MThd not really a MIDI file")
    return sorted(midi_folder.glob("*.mid"))


def no_parsing(path):
    raise AssertionError(f"{path} should have come from the cache")


def test_records_keep_order_and_say_why_a_file_was_skipped(files):
    records, cached = parse_files(files, jobs=1)
    assert [r["piece"] for r in records] == [f.name for f in files] and cached == 0
    broken = next(r for r in records if r["piece"] == "broken.mid")
    assert broken["status"] == "skipped" and "broken.mid" in broken["reason"]
    kept = [r for r in records if r["status"] == "kept"]
    assert len(kept) == 6 and all(len(r["notes"]) > 10 for r in kept)
    assert kept[0]["notes"] == read_piece(files[0].parent / kept[0]["piece"])["notes"]


def test_two_processes_give_the_same_records_as_one(files):
    assert parse_files(files, jobs=2)[0] == parse_files(files, jobs=1)[0]


def parent_of_worker(path):
    return {"status": "kept", "parent": os.getppid()}


def test_workers_are_not_forked_from_the_caller(files):
    """A fork copies the caller's threads mid-step (TensorFlow's, in the test process): one such child died."""
    records, _ = parse_files(files[:3], jobs=2, reader=parent_of_worker)
    assert {r["parent"] for r in records}.isdisjoint({os.getpid()})


def test_warm_cache_parses_nothing_and_new_files_only_themselves(files, tmp_path, monkeypatch):
    cache = NoteCache(tmp_path / "cache", parser_version())
    cold, _ = parse_files(files, jobs=2, cache=cache)
    entries = list(cache.folder.glob("*.json"))
    assert len(entries) == len(files) and all(json.loads(e.read_text())["status"] for e in entries), "plain JSON"
    monkeypatch.setattr(parsing, "read_piece", no_parsing)
    warm, cached = parse_files(files, jobs=2, cache=cache)
    assert warm == cold and cached == len(files)

    added = write_tune(files[0].parent / "new.mid", transpose=11, repeats=2)
    parsed = []
    monkeypatch.setattr(parsing, "read_piece", lambda p: parsed.append(Path(p).name) or read_piece(p))
    records, cached = parse_files([*files, added], jobs=1, cache=cache)
    assert parsed == ["new.mid"] and cached == len(files) and records[-1]["status"] == "kept"


def test_cache_is_keyed_by_content_not_name(files, tmp_path, monkeypatch):
    cache = NoteCache(tmp_path / "cache", "v1")
    parse_files(files[:1], jobs=1, cache=cache)
    renamed = tmp_path / "renamed.mid"
    renamed.write_bytes(files[0].read_bytes())
    monkeypatch.setattr(parsing, "read_piece", no_parsing)
    records, cached = parse_files([renamed], jobs=1, cache=cache)
    assert cached == 1 and records[0]["piece"] == "renamed.mid"


def test_damaged_entries_and_other_parser_versions_are_parsed_again(files, tmp_path):
    cache = NoteCache(tmp_path / "cache", "v1")
    parse_files(files[:2], jobs=1, cache=cache)
    next(cache.folder.glob("*.json")).write_text("{truncated")
    assert parse_files(files[:2], jobs=1, cache=cache)[1] == 1
    assert parse_files(files[:2], jobs=1, cache=NoteCache(tmp_path / "cache", "v2"))[1] == 0
    assert parser_version() == parser_version() and len(parser_version()) == 16


def test_a_record_carries_the_meters_and_the_key_of_its_file(tmp_path):
    from music21 import key

    from jukebox.midi_io import notes_to_stream, write_midi

    score = notes_to_stream([(float(i), 1.0, (p,)) for i, p in enumerate([57, 59, 60, 62, 64, 65, 68, 69])],
                            meters=[(0.0, "3/4"), (6.0, "6/8")])
    score.parts[0].insert(0, key.Key("a"))  # a minor key signature: the MIDI file keeps its mode
    write_midi(score, tmp_path / "a_minor.mid")
    record = read_piece(tmp_path / "a_minor.mid")
    assert record["meters"] == [[0.0, "3/4"], [6.0, "6/8"]] and record["key"] == "A minor"
    write_tune(tmp_path / "plain.mid")  # no time or key signature: 4/4, and the key music21's analysis hears
    record = read_piece(tmp_path / "plain.mid")
    assert record["meters"] == [[0.0, "4/4"]] and record["key"] == "C major"
