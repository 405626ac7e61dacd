"""The base model (jukebox/pretraining.py, stages/pretrain.py) and genres that start from it (init: base)."""
import dataclasses
import json
import random
import shutil

import numpy as np
import pytest
import yaml

from jukebox.midi_io import notes_to_stream, write_midi
from jukebox.parsing import read_piece
from jukebox.pretraining import BaseModelError, note_key

SEQ_LEN = 8


def tune_events(seed: int, transpose: int = 0, length: int = 24):
    """A tune of its own (seeded pitches and note values), so that no two seeds share their notes."""
    rng, onset, events = random.Random(seed), 0.0, []
    for _ in range(length):
        duration = rng.choice([0.5, 1.0, 1.5])
        events.append((onset, duration, (rng.randrange(55, 80) + transpose,)))
        onset += duration
    return events


def write_tune(path, seed, transpose=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_midi(notes_to_stream(tune_events(seed, transpose)), path)
    return path


def test_note_key_is_the_same_for_a_renamed_or_transposed_copy_and_differs_for_another_tune(tmp_path):
    first = read_piece(write_tune(tmp_path / "a.mid", 1))["notes"]
    renamed = read_piece(write_tune(tmp_path / "renamed.mid", 1))["notes"]
    moved = read_piece(write_tune(tmp_path / "moved.mid", 1, transpose=5))["notes"]
    late = [[on + 4.0, dur, p] for on, dur, p in first]  # the same tune after a bar's rest
    other = read_piece(write_tune(tmp_path / "b.mid", 2))["notes"]
    assert note_key(first) == note_key(renamed) == note_key(moved) == note_key(late) != note_key(other)
    assert note_key([]) == ""


def _project(root, init="base", vocabulary="fixed", **extra):
    """A genre `tunes` of six tunes, parsed, with a corpus folder beside it; params.yaml for a tiny base."""
    pieces = [{"piece": f"t{i}.mid", **read_piece(write_tune(root / "midi" / f"t{i}.mid", i))} for i in range(6)]
    notes = root / "data/notes/tunes"
    notes.mkdir(parents=True)
    (notes / "pieces.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pieces))
    (notes / "summary.json").write_text(json.dumps({"files": 6, "skipped_files": 0, "notes": 1}))
    params = {"encoding": "rhythm", "vocabulary": vocabulary, "init": init, "seq_len": SEQ_LEN, "val_fraction": 0.34,
              "architecture": "transformer", "layers": 2, "units": 128, "heads": 2, "token_conv": 8, "dropout": 0.0,
              "optimizer": "adamw", "warmup_steps": 2, "transpose": 2, "epochs": 1, "windows_per_epoch": 16,
              "batch_size": 8, "val_windows": 8, "jobs": 1, "finetune_epochs": 1, "finetune_freeze": 1,
              "pretrain": {"sources": [{"folder": "corpus"}], "size": "cpu", "epochs": 1, "windows_per_epoch": 16,
                           "batch_size": 8, "val_fraction": 0.2},
              "genres": {"tunes": {"source": "local", "path": "midi"}}, **extra}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def test_no_validation_piece_of_a_genre_gets_into_the_base_corpus(tmp_path, monkeypatch):
    from stages import pretrain, sequences

    project = _project(tmp_path)
    monkeypatch.chdir(project)
    sequences.main("tunes")
    split = json.loads((project / "data/sequences/tunes/split.json").read_text())
    held, trained = split["validation"], split["train"]
    assert len(held) == 2
    corpus = project / "corpus"
    # The genre's validation pieces as a corpus would hold them: one copied under another name, one in another key;
    # beside them a training piece of the genre (allowed in) and four tunes of the corpus's own.
    shutil.copy(project / "midi" / held[0], corpus.mkdir() or corpus / "another name.mid")
    write_tune(corpus / "sub" / "moved.mid", int(held[1][1]), transpose=3)
    shutil.copy(project / "midi" / trained[0], corpus / "from training.mid")
    # Another version of the first held-out tune: harmonized a fifth and an octave below, and with another ending.
    # Its notes differ; its melody's opening is the tune's, the rule that keeps versions together in a genre's split.
    melody = tune_events(int(held[0][1]))
    version = [(on, dur, (p, p - 7, p - 12)) for on, dur, (p,) in melody[:16]] + tune_events(99)[:8]
    write_midi(notes_to_stream([(on + (16 * 2 if i >= 16 else 0), dur, ps) for i, (on, dur, ps) in enumerate(version)]),
               corpus / "version.mid")
    for seed in range(10, 14):
        write_tune(corpus / f"own{seed}.mid", seed)
    pretrain.main()
    report = json.loads((project / "metrics/_base/corpus.json").read_text())
    assert report["files"] == 8 and report["pieces"] == 8
    assert report["validation_pieces_of_genres"] == 2 and report["excluded"] == 3
    assert sorted((e["piece"], e["same_notes_as"]) for e in report["excluded_pieces"]) == sorted(
        [("another name.mid", f"tunes/{held[0]}"), ("moved.mid", f"tunes/{held[1]}"),
         ("version.mid", f"tunes/{held[0]}")])
    base = project / "models/_base"
    assert (base / "vocabulary.json").read_bytes() == (project / "data/sequences/tunes/vocabulary.json").read_bytes()
    assert json.loads((base / "config.json").read_text())["layers"] == 2


def test_a_source_that_keeps_its_instruments_teaches_the_base_them(tmp_path, monkeypatch):
    """A many-part source (instruments: keep) is read with its tracks: the base learns Program_ and Drum_ tokens,
    which a merged source never writes."""
    from jukebox.midi_io import write_tracks
    from stages import pretrain, sequences
    from tests.conftest import drum_band

    counted = {}
    for instruments in ("merge", "keep"):
        project = _project(tmp_path / instruments)
        for i in range(6):
            write_tracks(drum_band(2 + i % 3), (project / "corpus").mkdir(exist_ok=True) or project / "corpus" / f"b{i}.mid")
        params = yaml.safe_load((project / "params.yaml").read_text())
        params["pretrain"]["sources"] = [{"folder": "corpus", "instruments": instruments}]
        (project / "params.yaml").write_text(yaml.safe_dump(params))
        monkeypatch.chdir(project)
        sequences.main("tunes")
        pretrain.main()
        vocab = json.loads((project / "models/_base/vocab.json").read_text())
        counted[instruments] = {t: c for t, c in zip(vocab["tokens"], vocab["counts"]) if c and t[:5] in ("Progr", "Drum_")}
    assert counted["merge"] == {}
    assert set(counted["keep"]) == {"Program_33", "Program_73", "Drum_36", "Drum_38", "Drum_42"}


def _base_and_genre(tmp_path, monkeypatch, corpus_copies_genre=False, **extra):
    from stages import pretrain, sequences

    project = _project(tmp_path, **extra)
    monkeypatch.chdir(project)
    sequences.main("tunes")
    for seed in range(10, 16):
        write_tune(project / "corpus" / f"own{seed}.mid", seed)
    if corpus_copies_genre:
        for tune in (project / "midi").iterdir():
            shutil.copy(tune, project / "corpus" / f"copy of {tune.name}")
    pretrain.main()
    return project


def test_a_genre_fine_tunes_the_base_weights_and_keeps_its_frozen_embedding(tmp_path, monkeypatch):
    import keras

    from jukebox.model import llama_block
    from jukebox.params import load_params
    from jukebox.pretraining import finetune_params, read_base, start_from_base
    from jukebox.training import prepare
    from stages import train

    project = _base_and_genre(tmp_path, monkeypatch)
    llama_block()
    base = keras.saving.load_model(project / "models/_base/model.keras", compile=False)
    # Loaded: a genre model built from the base's config holds the base's weights before it trains.
    tokens = json.loads((project / "data/sequences/tunes/vocab.json").read_text())["tokens"]
    train_ids, val_ids = (np.load(project / f"data/sequences/tunes/{part}.npy") for part in ("train", "val"))
    params = finetune_params(load_params(), read_base(project / "models/_base")[0], len(train_ids), len(val_ids))
    model, config, *_ = prepare(params, train_ids, val_ids, tokens)
    assert not np.array_equal(model.get_layer("transformer_layer_0").get_weights()[0],
                              base.get_layer("transformer_layer_0").get_weights()[0])
    start_from_base(model, config, project / "models/_base", freeze=0)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), base.get_weights()))
    # Through the train stage, with finetune_freeze 1: the token embedding stays the base's, the rest learns.
    train.main("tunes")
    tuned = keras.saving.load_model(project / "models/tunes/model.keras")
    assert np.array_equal(tuned.get_layer("token_embedding").get_weights()[0],
                          base.get_layer("token_embedding").get_weights()[0])
    assert not np.array_equal(tuned.get_layer("transformer_layer_1").get_weights()[0],
                              base.get_layer("transformer_layer_1").get_weights()[0])
    saved = json.loads((project / "models/tunes/config.json").read_text())
    assert (saved["layers"], saved["units"], saved["learning_rate"]) == (2, 128, 0.001)


def test_a_genre_with_another_vocabulary_is_told_both_and_the_fix(tmp_path, monkeypatch):
    from stages import sequences, train

    project = _base_and_genre(tmp_path, monkeypatch)
    params = yaml.safe_load((project / "params.yaml").read_text())
    (project / "params.yaml").write_text(yaml.safe_dump({**params, "vocabulary": "data", "init": "scratch"}))
    shutil.rmtree(project / "data/sequences/tunes")
    sequences.main("tunes")
    # Back to the base's settings without tokenizing again (outside dvc): the stale sequences are caught.
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(BaseModelError, match=r"genre tunes cannot start from the base: its vocabulary, its data-built "
                                             r"vocabulary .*models/_base/vocabulary.json \(rhythm, 1435 tokens\); set "
                                             r"vocabulary: fixed"):
        train.main("tunes")


def test_a_base_made_before_instruments_fine_tunes_the_grown_vocabulary_keeping_its_odds():
    """The shipped base read rhythm's vocabulary before Program_ and Drum_ tokens were added at its end: a genre
    starts from it with those tokens as unlikely as the base's rarest, and the odds between the base's own tokens
    unchanged."""
    import keras

    from jukebox.encodings.fixed import fixed_vocabulary
    from jukebox.model import ModelConfig, build_model
    from jukebox.pretraining import extends, grown
    from jukebox.vocabulary import FixedVocabulary

    full = fixed_vocabulary("rhythm")
    old = FixedVocabulary(full.encoding, {k: v for k, v in full.settings.items()
                                          if k not in ("programs", "drum_low", "drum_high")},
                          [t for t in full.tokens if not t.startswith(("Program_", "Drum_"))])
    assert extends(full, old) and not extends(old, full)
    assert not extends(FixedVocabulary("rhythm", {**old.settings, "pitch_low": 30}, full.tokens), old)
    config = ModelConfig(architecture="transformer", layers=1, units=16, heads=2, token_conv=0, seq_len=12,
                         encoding="rhythm")
    keras.utils.set_random_seed(1)
    base, genre = build_model(len(old), config), build_model(len(full), config)
    base.layers[-1].bias.assign(np.random.default_rng(0).normal(size=len(old)).astype("float32"))
    genre.set_weights(grown(base.get_weights(), [w.shape for w in genre.get_weights()], len(full)))
    window = np.random.default_rng(1).integers(1, len(old), size=(3, 12))
    before, after = base.predict(window, verbose=0), genre.predict(window, verbose=0)
    kept = after[..., :len(old)]
    np.testing.assert_allclose(kept / kept.sum(-1, keepdims=True), before, rtol=1e-4, atol=1e-7)
    assert after[..., len(old):].sum(-1).max() < 0.01  # 189 new tokens, each scored as the lowest bias


def test_without_init_base_the_stage_trains_nothing_and_says_why(tmp_path, monkeypatch):
    from stages import pretrain, sequences, train

    project = _project(tmp_path, init="scratch")
    monkeypatch.chdir(project)
    sequences.main("tunes")
    pretrain.main()
    assert json.loads((project / "models/_base/status.json").read_text())["trained"] is False
    assert not (project / "models/_base/model.keras").exists()
    (project / "params.yaml").write_text((project / "params.yaml").read_text().replace("init: scratch", "init: base"))
    with pytest.raises(BaseModelError, match="no base model .*dvc unfreeze pretrain && dvc repro"):
        train.main("tunes")


def test_fine_tuning_sizes_its_epochs_to_the_genre():
    from jukebox.model import ModelConfig
    from jukebox.params import parse_params
    from jukebox.pretraining import finetune_params

    params = parse_params({"genres": {"celtic": {"source": "corpus", "collection": "oneills1850"}}, "windows_per_epoch": 1536, "val_windows": 1024, "seq_len": 200, "batch_size": 8,
                           "warmup_steps": 100})
    base = ModelConfig.from_params(params, decay_steps=1)
    # A 20-file collection: one pass over its 12,000 training tokens is 60 windows, 64 in whole batches of 8;
    # 1,000 validation tokens, 125 windows.
    small = finetune_params(params, base, 12_000, 1_000)
    assert (small.windows_per_epoch, small.val_windows, small.epochs) == (64, 125, params.finetune_epochs)
    # A genre's own finetune_epochs and finetune_learning_rate (an upload's) win over params.yaml's.
    celtic = params.genre("celtic")
    own = finetune_params(params.for_genre(dataclasses.replace(celtic, finetune_epochs=6, finetune_learning_rate=0.002)),
                          base, 12_000, 1_000)
    assert (own.epochs, own.learning_rate) == (6, 0.002) and params.finetune_learning_rate != 0.002
    six = params.for_genre(dataclasses.replace(celtic, finetune_epochs=6))
    assert finetune_params(six, base, 12_000, 1_000).learning_rate == params.finetune_learning_rate
    # Its warm-up lasts at most a tenth of its 6 x 8 steps, where params.yaml's would outlast the run.
    assert (own.warmup_steps, params.warmup_steps) == (4, 100)
    assert finetune_params(dataclasses.replace(six, warmup_steps=0), base, 12_000, 1_000).warmup_steps == 0
    # A genre of 400 tunes keeps the genres' epoch and validation sizes.
    large = finetune_params(params, base, 400_000, 40_000)
    assert (large.windows_per_epoch, large.val_windows, large.warmup_steps) == (1536, 1024, params.warmup_steps)
    # Never fewer windows than one batch, nor no validation at all.
    tiny = finetune_params(params, base, 50, 3)
    assert (tiny.windows_per_epoch, tiny.val_windows) == (8, 1)


def test_the_finetune_benchmark_trains_each_genre_from_scratch_and_from_the_base_side_by_side(tmp_path, monkeypatch,
                                                                                            capsys):
    from benchmarks import finetune

    project = _base_and_genre(tmp_path, monkeypatch)
    finetune.main(["--project", str(project), "--genres", "tunes", "--rates", "0.001", "0.01",
                   "--json", str(tmp_path / "runs.json")])
    runs = json.loads((tmp_path / "runs.json").read_text())["tunes"]
    assert list(runs) == ["scratch", "base@0.001", "base@0.01"]
    # Different starts and rates learn differently; each run is its own training, not a copy of another's figures.
    assert len({round(run["val_loss"], 6) for run in runs.values()}) == 3
    out = capsys.readouterr().out
    assert out.count("the scratch loss") == 2 and "heard_again" in out
    assert not (project / "models/tunes").exists(), "the project itself is left as it was"


def test_a_genre_whose_validation_pieces_the_base_learned_says_so(tmp_path, monkeypatch, caplog):
    from stages import sequences, train

    # The corpus holds every tune of the genre: the pretrain stage leaves out today's validation pieces only.
    project = _base_and_genre(tmp_path, monkeypatch, corpus_copies_genre=True)
    keys = json.loads((project / "models/_base/corpus_keys.json").read_text())
    assert len(keys) == len(set(keys)) == 2 * (4 + 6), "notes and melody of the genre's 4 training tunes and the corpus's 6"
    train.main("tunes")
    summary = json.loads((project / "metrics/tunes/train/metrics.json").read_text())
    assert summary["validation_pieces_in_base"] == 0 and summary["epochs"] == 1
    # Another seed splits the tunes anew: validation pieces the base learned from are named, and counted. The genre
    # now fine-tunes for its own 2 epochs at its own rate, over params.yaml's 1 epoch and rate.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["genres"]["tunes"].update(finetune_epochs=2, finetune_learning_rate=0.0042)
    (project / "params.yaml").write_text(yaml.safe_dump({**params, "seed": 7}))
    sequences.main("tunes")
    held = json.loads((project / "data/sequences/tunes/split.json").read_text())["validation"]
    with caplog.at_level("INFO"):
        train.main("tunes")
    summary = json.loads((project / "metrics/tunes/train/metrics.json").read_text())
    assert summary["validation_pieces_in_base"] >= 1 and summary["epochs"] == 2
    assert "learning rate 0.0042, 2 epochs" in caplog.text
    assert "validation pieces of tunes are in the base's corpus" in caplog.text and "Rebuilding it" in caplog.text
    assert any(f"tunes/{piece}" in caplog.text for piece in held)


def test_the_train_stage_moves_pieces_into_the_genres_keys_asks_for_them_when_missing_and_lets_a_genre_differ(
        tmp_path, monkeypatch, caplog):
    from stages import sequences, train

    project = _project(tmp_path, init="scratch", transpose_into="genre_keys")
    monkeypatch.chdir(project)
    sequences.main("tunes")
    split_file = project / "data/sequences/tunes/split.json"
    split = json.loads(split_file.read_text())
    assert len(split["train_keys"]) == len(split["train"]) and all(split["train_keys"])
    with caplog.at_level("INFO"):
        train.main("tunes")
    assert "transposed up to 2 semitones into the genre's keys" in caplog.text
    assert (project / "models/tunes/model.keras").exists()
    # Sequences written before keys were (an older run): the fix is named, nothing is trained from a wrong stream.
    split_file.write_text(json.dumps({k: v for k, v in split.items() if k != "train_keys"}))
    with pytest.raises(ValueError, match="transpose_into genre_keys needs each training piece's key .* rerun the "
                                         "sequences stage"):
        train.main("tunes")
    # A genre's own transpose_into (an upload's `any`) wins over params.yaml's, and needs no keys.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["genres"]["tunes"]["transpose_into"] = "any"
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    caplog.clear()
    with caplog.at_level("INFO"):
        train.main("tunes")
    assert "transposed up to 2 semitones into any keys" in caplog.text


def test_the_base_moves_its_corpus_by_any_interval_whatever_the_genres_do():
    """A corpus of many collections has no one genre's keys: under the project's transpose_into genre_keys, the base
    is still trained as the shipped one was, with no keys to read."""
    import dataclasses

    from jukebox.params import load_params
    from jukebox.pretraining import base_params
    from tests.conftest import ROOT

    params = load_params(ROOT / "params.yaml")
    assert params.transpose_into == "genre_keys" and params.transpose > 0
    assert base_params(params).transpose_into == "any"
    assert base_params(dataclasses.replace(params, transpose_into="any")) == base_params(params)
