"""benchmarks/variants.py on a tiny genre: variants trained as the train stage trains, judged as evaluate judges."""
import json

import numpy as np
import pytest
import yaml

from benchmarks.variants import main
from jukebox.artifacts import write_json, write_jsonl
from jukebox.params import ParamError
from tests.conftest import phrase_events
from tests.tiny_genre import write_tiny_genre


def test_trains_each_variant_and_judges_it_side_by_side(tmp_path, capsys):
    project = write_tiny_genre(tmp_path)
    sequences = project / "data/sequences/tiny"
    val = np.load(sequences / "val.npy")
    np.save(sequences / "train.npy", np.tile(val, 3))
    write_json(sequences / "vocab.json", json.loads((project / "models/tiny/vocab.json").read_text()))
    write_json(sequences / "split.json", {"training": ["a.mid"], "validation": ["b.mid", "c.mid"]})
    write_jsonl(project / "data/notes/tiny/pieces.jsonl",
                [{"piece": name, "notes": [[on, dur, p] for on, dur, ps in phrase_events(shift, 6) for p in ps]}
                 for name, shift in (("a.mid", 0), ("b.mid", 2), ("c.mid", 5))])
    params = yaml.safe_load((project / "params.yaml").read_text())
    params.update(init="scratch", architecture="transformer", seq_len=24, transpose=0, epochs=2, windows_per_epoch=32,
                  batch_size=8, val_windows=16, warmup_steps=2, n_notes=70, eval_samples=3)
    (project / "params.yaml").write_text(yaml.safe_dump(params))

    with pytest.raises(ParamError, match="token_conv = 99 is out of range"):
        main(["--project", str(project), "--variants", "token_conv=99"])
    main(["--project", str(project), "--variants", "token_conv=0", "token_conv=3,epochs=1", "token_conv=0",
          "--draws", "2", "--json", str(tmp_path / "variants.json")])
    rows = json.loads((tmp_path / "variants.json").read_text())
    assert [r["variant"] for r in rows] == ["token_conv=0", "token_conv=3,epochs=1", "token_conv=0"]
    plain, changed, again = rows
    # Seeded as the train stage seeds: the same variant twice is the same model, so only a change makes a difference.
    assert again["val_loss"] == plain["val_loss"] and again["d8"] == plain["d8"]
    assert changed["val_loss"] != plain["val_loss"] and (changed["epochs"], plain["epochs"]) == (1, 2)
    assert all(0 < r["d8"] <= 1 and 0 < r["d8_held_out"] <= 1 and r["realness"] is not None for r in rows)
    for r in rows:  # two draws a model, the table's figures their means
        assert len(r["draws"]) == 2 and r["d8"] == pytest.approx(sum(d["d8"] for d in r["draws"]) / 2)
        assert r["realness"] == pytest.approx(sum(d["realness"] for d in r["draws"]) / 2)
    assert again["draws"] == plain["draws"]
    # Each model's loss on a passage heard the first time and again (12 tokens, in windows of 24).
    assert all(r["heard_first"] > 0 and r["heard_again"] > 0 for r in rows)
    assert (again["heard_first"], again["heard_again"]) == (plain["heard_first"], plain["heard_again"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[-3].split()[:2] == ["tiny", "token_conv=0"] and "1.00" in printed[-3]
