"""benchmarks/sampling.py on a tiny trained genre: settings side by side, judged as the evaluate stage judges."""
import json

import numpy as np
import yaml

from benchmarks.sampling import main
from jukebox.artifacts import write_json, write_jsonl
from tests.conftest import phrase_events
from tests.tiny_genre import write_tiny_genre


def test_compares_settings_on_the_same_primers(tmp_path, capsys):
    project = write_tiny_genre(tmp_path)
    sequences = project / "data/sequences/tiny"
    val = np.load(sequences / "val.npy")
    np.save(sequences / "train.npy", np.tile(val, 3))
    write_json(sequences / "split.json", {"training": ["a.mid"], "validation": ["b.mid", "c.mid"]})
    # Two held-out tunes of 54 events each: a 32-event stretch apiece, so realness has a figure.
    write_jsonl(project / "data/notes/tiny/pieces.jsonl",
                [{"piece": name, "notes": [[on, dur, p] for on, dur, ps in phrase_events(shift, 6) for p in ps]}
                 for name, shift in (("a.mid", 0), ("b.mid", 2), ("c.mid", 5))])
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["n_notes"] = 120  # a piece the tiny model ENDs after its 36 events, and the next piece
    (project / "params.yaml").write_text(yaml.safe_dump(params))

    main(["--project", str(project), "--settings", "0/1", "2/1", "--pieces", "4", "--repeats", "2",
          "--json", str(tmp_path / "sampling.json")])
    printed = capsys.readouterr().out
    rows = json.loads((tmp_path / "sampling.json").read_text())
    assert [(r["temperature"], r["top_p"]) for r in rows] == [(0.0, 1.0), (2.0, 1.0)]
    assert all(len(r["runs"]) == 2 and f"{r['temperature']:.2f}/1.00" in printed for r in rows)
    argmax, hot = rows
    # The argmax loops the phrase it learnt; a temperature of 2 wanders off it.
    assert argmax["d8"] < hot["d8"]
    # The held-out side does not depend on the setting.
    assert argmax["d8_held_out"] == hot["d8_held_out"]
    assert all(r["stretches"] >= 2 and 0 <= r["realness"] <= 1 for r in rows)
