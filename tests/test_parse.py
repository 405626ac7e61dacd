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
