import json

import yaml

from tests.conftest import write_tune


def test_parse_stage_writes_pieces_and_fills_the_cache_outside_its_outputs(tmp_path, monkeypatch):
    from stages import parse

    raw = tmp_path / "data/raw/g"
    names = [write_tune(raw / f"tune_{i}.mid", i, repeats=2).name for i in range(3)]
    (raw / "empty.mid").write_bytes(b"MThd")
    files = [{"file": n, "status": "kept"} for n in [*names, "empty.mid"]]
    (raw / "manifest.json").write_text(json.dumps({"genre": "g", "kept": 4, "skipped": 1, "files": files}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"jobs": 2, "genres": {"g": {"source": "local",
                                                                                      "path": "x"}}}))
    monkeypatch.chdir(tmp_path)
    parse.main("g")
    pieces = [json.loads(line) for line in (tmp_path / "data/notes/g/pieces.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "data/notes/g/summary.json").read_text())
    assert [p["piece"] for p in pieces] == names and summary["files"] == 3 and summary["skipped_files"] == 2
    assert len(list((tmp_path / ".jukebox-cache/notes").glob("*/*.json"))) == 4
    before = (tmp_path / "data/notes/g/pieces.jsonl").read_text()
    parse.main("g")
    assert (tmp_path / "data/notes/g/pieces.jsonl").read_text() == before, "a warm run writes the same notes"


def test_a_keep_genre_writes_each_track_with_its_instrument_and_counts_them(tmp_path, monkeypatch):
    from jukebox.midi_io import write_tracks
    from stages import parse
    from tests.conftest import drum_band

    raw = tmp_path / "data/raw/band"
    raw.mkdir(parents=True)
    for i in range(3):
        write_tracks(drum_band(i + 1), raw / f"band{i}.mid")
    files = [{"file": f"band{i}.mid", "status": "kept"} for i in range(3)]
    (raw / "manifest.json").write_text(json.dumps({"genre": "band", "kept": 3, "skipped": 0, "files": files}))
    genre = {"source": "local", "path": "x", "instruments": "keep", "max_tracks": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"jobs": 1, "genres": {"band": genre}}))
    monkeypatch.chdir(tmp_path)
    parse.main("band")
    pieces = [json.loads(line) for line in (tmp_path / "data/notes/band/pieces.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "data/notes/band/summary.json").read_text())
    assert all(p["version"] == 4 and len(p["tracks"]) == 2 for p in pieces)
    # max_tracks 2 keeps the drums and the melody (most notes), in file order; the bass is dropped, and counted.
    assert [(t["program"], t["is_drum"]) for t in pieces[0]["tracks"]] == [(0, True), (73, False)]
    bass = sum(len(drum_band(i + 1).tracks[0].notes) for i in range(3))
    assert summary["dropped"] == {"drum_notes": 0, "notes": bass, "tracks": 3}
    assert summary["drum_notes"] == sum(len(drum_band(i + 1).tracks[1].notes) for i in range(3)) > 0
    assert summary["instruments"].keys() == {"drums", "program 73"} and summary["tracks"] == 6
