import numpy as np
import pytest

from jukebox.dataset import (
    UNKNOWN,
    key_weights,
    Vocabulary,
    sequence_windows,
    melody_key,
    split_pieces,
    training_dataset,
    transposition_tables,
    validation_data,
    window_starts,
    windows,
)
from jukebox.encodings import END, transpose_token


def test_vocabulary_orders_by_count_and_folds_rare_tokens():
    vocab = Vocabulary.build([["a", "b", "a"], ["c", "a", "b"]], min_count=2)
    assert vocab.tokens == (UNKNOWN, "a", "b") and vocab.counts == (1, 3, 2)
    assert vocab.ids(["b", "zzz", "a"]).tolist() == [2, 0, 1]
    assert Vocabulary.from_json(vocab.to_json()) == vocab


def test_vocabulary_for_transposition_holds_every_move_of_a_kept_token():
    move = lambda t, k: transpose_token(t, k, "rhythm")  # noqa: E731
    pieces = [["C4:1", "+1/2", "C4:1", "E4:1/2", "C4:1"], ["G9:1"]]
    assert Vocabulary.build(pieces, min_count=2).tokens == (UNKNOWN, "C4:1")
    moved = Vocabulary.build(pieces, min_count=2, semitones=2, transpose=move)
    # Judged over the pieces moved by -2..+2: C4:1 brings its four moves, a shift counts once per interval, and a
    # single E4:1/2 or G9:1 (the top of the MIDI range, which cannot move up) stays rare in every key.
    assert set(moved.tokens) == {UNKNOWN, "+1/2", "B-3:1", "B3:1", "C4:1", "C#4:1", "D4:1"}
    counts = dict(zip(moved.tokens, moved.counts))
    assert counts["C4:1"] == 3 and counts["D4:1"] == 0 and counts[UNKNOWN] == 2, "counts stay the pieces' own"
    assert moved.tokens[:3] == (UNKNOWN, "C4:1", "+1/2"), "the pieces' own counts order the vocabulary"
    tables = transposition_tables(moved.tokens, 2, move)
    ids = moved.ids(["C4:1", "+1/2", "C4:1"])
    assert (tables[:, ids] >= 0).all(), "a window of kept tokens moves by every interval within the vocabulary"


def test_split_is_by_piece_seeded_and_disjoint():
    train, val = split_pieces(20, 0.2, seed=1)
    assert len(val) == 4 and not set(train) & set(val) and sorted(train + val) == list(range(20))
    assert split_pieces(20, 0.2, seed=1) == (train, val)
    assert split_pieces(2, 0.01, seed=0)[1], "validation always gets a piece"
    with pytest.raises(ValueError):
        split_pieces(1, 0.5, 0)


def test_versions_of_one_tune_stay_on_one_side():
    # 30 tunes, every third one in three versions: a split by piece would put versions on both sides.
    groups = [i // 3 if i < 30 else i for i in range(60)]
    for seed in range(20):
        train, val = split_pieces(60, 0.2, seed, groups)
        assert sorted(train + val) == list(range(60)) and 12 <= len(val) <= 14
        for side in (train, val):
            assert all(set(range(3 * (i // 3), 3 * (i // 3) + 3)) <= set(side) for i in side if i < 30), seed
    assert split_pieces(20, 0.2, 1, list(range(20))) == split_pieces(20, 0.2, 1), "distinct pieces: as before"
    # One tune in every version: no split by tune gives both sides a piece, so the split is by piece.
    assert split_pieces(5, 0.2, 0, ["same"] * 5)[1]
    train, val = split_pieces(3, 0.5, 0, ["a", "a", "b"])
    assert train and val and (val == [2] or val == [0, 1])


def test_melody_key_matches_versions_of_a_tune_in_any_key_or_harmony():
    tune = [(i * 0.5, 0.5, p) for i, p in enumerate([67, 69, 71, 67, 72, 71, 69, 67, 66, 67, 69, 71, 72, 74])]
    harmonized = tune + [(n[0], n[1], n[2] - 12) for n in tune[::2]] + [(n[0], n[1], n[2] - 7) for n in tune]
    moved = [(o, d, p - 5) for o, d, p in harmonized]
    assert melody_key(tune) == melody_key(moved) == (2, 2, -4, 5, -1, -2, -2, -1, 1, 2, 2, 1)
    other = tune[:5] + [(2.5, 0.5, 74)] + tune[6:]
    assert melody_key(other) != melody_key(tune)
    assert melody_key(tune[:3]) == (2, 2) and melody_key([]) == ()


def test_windows_and_next_tokens():
    tokens = np.arange(10, dtype=np.int32)
    x, y = windows(tokens, np.array([0, 3]), 4)
    assert x.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6]] and y.tolist() == [4, 7]
    assert window_starts(10, 4, 100).tolist() == list(range(6))
    assert len(window_starts(1000, 4, 10)) == 10 and window_starts(3, 4, 10).size == 0


def test_training_dataset_streams_consistent_windows():
    tokens = np.arange(100, dtype=np.int32)
    ds = training_dataset(tokens, seq_len=8, batch_size=16, windows_per_epoch=40, seed=0)
    batches = list(ds.as_numpy_iterator())
    assert [len(b[0]) for b in batches] == [16, 16, 8]
    for x, y in batches:
        assert x.shape[1] == 8
        assert (np.diff(x, axis=1) == 1).all() and (y == x[:, -1] + 1).all(), "windows are contiguous and y follows"
    again = [b[0] for b in ds.as_numpy_iterator()]
    assert not all(np.array_equal(a, b[0]) for a, b in zip(again, batches)), "each epoch draws new windows"


def test_every_position_targets_are_the_window_shifted_by_one():
    tokens = np.arange(100, dtype=np.int32)
    ds = training_dataset(tokens, seq_len=8, batch_size=16, windows_per_epoch=40, seed=0, every_position=True)
    for x, y in ds.as_numpy_iterator():
        assert x.shape[1:] == (8,) and y.shape == x.shape
        assert (y == x + 1).all(), "each position's target is the token after it"
    x, y = sequence_windows(tokens, np.array([0, 5]), 4)
    assert x.tolist() == [[0, 1, 2, 3], [5, 6, 7, 8]] and y.tolist() == [[1, 2, 3, 4], [6, 7, 8, 9]]


def test_validation_data_scores_the_token_after_each_window():
    tokens = np.arange(50, dtype=np.int32)
    x, y = validation_data(tokens, 10, 5)
    assert x.shape == (5, 10) and (y == x[:, -1] + 1).all()
    cx, cy, weights = validation_data(tokens, 10, 5, every_position=True)
    assert (cx == x).all() and (cy[:, -1] == y).all()
    assert (weights[:, :-1] == 0).all() and (weights[:, -1] == 10).all()


def test_streamed_memory_does_not_grow_with_seq_len():
    tokens = np.arange(5000, dtype=np.int32)
    sizes = [training_dataset(tokens, seq_len, batch_size=4, windows_per_epoch=8, seed=0)._as_serialized_graph()
             .numpy().__len__() for seq_len in (10, 1000)]
    # The pipeline embeds the token array once (20 kB) and one row of offsets (8 kB at 1000), never a
    # (windows, seq_len) matrix, which the 2018 approach builds (5000 x 1000 floats = 40 MB).
    assert sizes[0] > tokens.nbytes and sizes[1] - sizes[0] <= 8 * 1000 + 100


def test_transposition_tables_move_notes_and_keep_the_rest():
    tokens = ["<unk>", "C4:1", "D4:1", "+1/2", "E4:1/2", "C#4:1"]
    tables = transposition_tables(tokens, 2, lambda t, k: transpose_token(t, k, "rhythm"))
    assert tables.shape == (5, 6)
    assert tables[2].tolist() == list(range(6)), "interval 0 is the identity"
    assert tables[4].tolist() == [0, 2, -1, 3, -1, -1], "up 2: C4 -> D4, shifts stay, notes not in the vocabulary -1"
    assert tables[3].tolist() == [0, 5, -1, 3, -1, 2], "up 1: C4 -> C#4, C#4 -> D4"


def test_transposed_windows_move_as_a_whole_by_a_random_interval():
    tokens = ["<unk>", "C4", "C#4", "D4", "E-4", "E4"]  # as music21 names them, like the encodings
    tables = transposition_tables(tokens, 1, lambda t, k: transpose_token(t, k, "pitch"))
    train = np.array([2, 3, 4, 3] * 50 + [1, 5], dtype=np.int32)  # the tail holds the range's edges
    plain = training_dataset(train, 4, 64, 512, seed=3, every_position=True)
    moved = training_dataset(train, 4, 64, 512, seed=3, every_position=True, transpositions=tables)
    intervals = []
    for (x0, y0), (x1, y1) in zip(plain, moved):
        a = np.concatenate([x0.numpy(), y0.numpy()[:, -1:]], axis=1)
        b = np.concatenate([x1.numpy(), y1.numpy()[:, -1:]], axis=1)
        assert (x1.numpy()[:, 1:] == y1.numpy()[:, :-1]).all(), "targets move with their window"
        shift = b - a
        assert (shift == shift[:, :1]).all(), "a whole window moves by one interval"
        edges = (a == 1).any(axis=1) & (a == 5).any(axis=1)
        assert (shift[edges] == 0).all(), "a window that cannot move within the vocabulary is kept"
        intervals += shift[~edges, 0].tolist()
    assert set(intervals) == {-1, 0, 1} and len(intervals) > 400


def test_each_piece_of_a_window_moves_by_its_own_interval_when_pieces_are_closed_by_end():
    tokens = ["<unk>", "C4", "C#4", "D4", "E-4", "E4", END]
    tables = transposition_tables(tokens, 1, lambda t, k: transpose_token(t, k, "pitch"))
    train = np.array([2, 3, 4, 3, 6] * 80, dtype=np.int32)  # four-note pieces, each closed by END
    plain = training_dataset(train, 9, 64, 512, seed=3, every_position=True)
    moved = training_dataset(train, 9, 64, 512, seed=3, every_position=True, transpositions=tables, end_id=6)
    differ, unmoved = 0, {True: [], False: []}
    for (x0, y0), (x1, y1) in zip(plain, moved):
        a = np.concatenate([x0.numpy(), y0.numpy()[:, -1:]], axis=1)
        b = np.concatenate([x1.numpy(), y1.numpy()[:, -1:]], axis=1)
        assert ((a == 6) == (b == 6)).all(), "END stays END, in its place"
        piece = np.cumsum(a == 6, axis=1) - (a == 6)  # END belongs to the piece it closes
        for row_a, row_b, row_piece in zip(a, b, piece):
            shifts = [set((row_b - row_a)[(row_piece == k) & (row_a != 6)].tolist()) for k in np.unique(row_piece)]
            assert all(len(s) <= 1 for s in shifts), "every note of one piece moves by the same interval"
            differ += len(set().union(*shifts)) > 1
            for k, s in zip(np.unique(row_piece), shifts):
                unmoved[k > 0].append(s == {0})
    assert differ > 100, "pieces side by side draw their intervals apart"
    # The opening piece stays where interval 0 is drawn (1 in 3); a piece beginning inside the window also half
    # the time it is not moved at all (1/2 + 1/2 * 1/3).
    assert 0.25 < np.mean(unmoved[False]) < 0.42 and 0.58 < np.mean(unmoved[True]) < 0.75


def test_key_weights_count_the_pieces_in_the_key_a_move_lands_in():
    weights = key_weights(["C major", "C major", "D major", "A minor", None], 2)
    assert np.exp(weights).tolist() == [[0, 0, 2, 0, 1], [0, 0, 2, 0, 1], [2, 0, 1, 0, 0], [0, 0, 1, 0, 0],
                                        [1, 1, 1, 1, 1]], "-2..2 semitones; a mode moves within itself; no key: any"


def test_transpose_into_genre_keys_moves_pieces_only_into_the_keys_the_pieces_are_in():
    tokens = ["<unk>", "C4", "C#4", "D4", "E-4", "E4", "F4", "F#4", END]
    tables = transposition_tables(tokens, 2, lambda t, k: transpose_token(t, k, "pitch"))
    # Two pieces in C major, then one in D major, each three notes and END; told apart by their shape.
    c_piece, d_piece = [3, 3, 5, 8], [5, 3, 3, 8]
    train = np.array((c_piece + c_piece + d_piece) * 80, dtype=np.int32)
    keys = ["C major", "C major", "D major"] * 80
    plain = training_dataset(train, 16, 64, 1024, seed=5, every_position=True)
    moved = training_dataset(train, 16, 64, 1024, seed=5, every_position=True, transpositions=tables, end_id=8,
                             weights=key_weights(keys, 2))
    shifts = {"C": [], "D": []}
    for (x0, y0), (x1, y1) in zip(plain, moved):
        a = np.concatenate([x0.numpy(), y0.numpy()[:, -1:]], axis=1)
        b = np.concatenate([x1.numpy(), y1.numpy()[:, -1:]], axis=1)
        for row_a, row_b in zip(a, b):
            ends = np.flatnonzero(row_a == 8)
            for end in ends[1:]:  # whole pieces that begin inside the window: three notes before their END
                notes = row_a[end - 3:end].tolist()
                shifts["C" if notes == c_piece[:3] else "D"].append(int(row_b[end - 1] - row_a[end - 1]))
    # Ids count semitones here. C major moves to D major (+2) in 1 of 3 draws, D major to C major (-2) in 2 of 3 (the
    # genre holds twice as many pieces in C); no coin keeps a piece beginning inside the window unmoved.
    assert set(shifts["C"]) == {0, 2} and set(shifts["D"]) == {-2, 0}, "never into a key no piece is in"
    assert 0.27 < np.mean(np.array(shifts["C"]) == 2) < 0.40 and 0.60 < np.mean(np.array(shifts["D"]) == -2) < 0.73
    with pytest.raises(ValueError, match="a row for each of the pieces"):
        training_dataset(train, 16, 64, 64, seed=5, transpositions=tables, end_id=8, weights=key_weights(keys[:9], 2))


def test_sequences_stage_keeps_versions_of_a_tune_on_one_side(tmp_path, monkeypatch):
    """The stage, on parsed pieces: three of ten tunes come twice (moved, with a bass line added); for every
    seed both versions of each land on the same side of split.json."""
    import json

    import yaml

    from stages.sequences import main

    rng = np.random.default_rng(0)
    tunes = [np.cumsum(rng.integers(-4, 5, 24)) + 66 for _ in range(10)]
    pieces = [{"piece": f"tune{i}.mid", "status": "kept", "notes": [[j * 0.5, 0.5, int(p)] for j, p in enumerate(t)]}
              for i, t in enumerate(tunes)]
    pieces += [{"piece": f"tune{i} again.mid", "status": "kept",
                "notes": sorted([j * 0.5, 0.5, int(p) + 2] for j, p in enumerate(tunes[i]))
                + [[j * 1.0, 1.0, 40] for j in range(12)]} for i in range(3)]
    keys = {p["piece"]: None for p in pieces}  # written before keys were parsed: none
    for i, key in enumerate(["G major", "E minor"]):
        pieces[i]["key"] = keys[pieces[i]["piece"]] = key
    notes = tmp_path / "data/notes/g"
    notes.mkdir(parents=True)
    (notes / "pieces.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pieces))
    (notes / "summary.json").write_text(json.dumps({"files": 13, "skipped_files": 0, "notes": 400}))
    monkeypatch.chdir(tmp_path)
    for seed in range(8):
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({
            "seed": seed, "seq_len": 8, "val_fraction": 0.3, "min_count": 1,
            "genres": {"g": {"source": "local", "path": "tunes"}}}))
        main("g")
        split = json.loads((tmp_path / "data/sequences/g/split.json").read_text())
        assert len(split["train"]) + len(split["validation"]) == 13
        assert split["train_keys"] == [keys[name] for name in split["train"]], "each training piece's key, in order"
        for i in range(3):
            sides = [name in split["validation"] for name in (f"tune{i}.mid", f"tune{i} again.mid")]
            assert sides[0] == sides[1], (seed, i, split)


def test_an_epoch_that_ends_on_a_batch_of_one_window_streams_it_too():
    tokens = ["<unk>", "C4", "C#4", "D4", "E-4", "E4", END]
    tables = transposition_tables(tokens, 1, lambda t, k: transpose_token(t, k, "pitch"))
    train = np.array([2, 3, 4, 3, 6] * 80, dtype=np.int32)
    # 17 windows in batches of 8: the third batch holds one (a fine-tuning epoch is sized to the data, not to 8).
    sizes = [len(x) for x, _ in training_dataset(train, 9, 8, 17, seed=3, every_position=True,
                                                 transpositions=tables, end_id=6)]
    assert sizes == [8, 8, 1]
