from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jukebox.bars import GRID, bar_lines, in_c, key_shift
from jukebox.dataset import Vocabulary
from jukebox.encodings import (
    DURATIONS,
    ENCODINGS,
    END,
    Token,
    by_piece,
    decode,
    encode,
    first_notes,
    follow_matrix,
    get_encoding,
    group_onsets,
    is_note,
    nearest_token,
    piece_tokens,
    quantize,
    snap_duration,
    transpose_token,
)
from jukebox.encodings.pitch import pitch_token, token_pitches
from jukebox.encodings.remi import bar_report, key_token
from jukebox.encodings.rhythm import shift_tokens
from jukebox.midi_io import notes_to_stream, played_notes, read_music, write_midi
from tests.conftest import phrase_events


def notes_of(events):
    return sorted((on, dur, p) for on, dur, pitches in events for p in pitches)


# --- pitch: the 2018 encoding ------------------------------------------------------------------------------

def test_pitch_encoding_is_the_2018_one():
    assert pitch_token((76,)) == "E5"
    assert pitch_token((60, 64, 67)) == "0.4.7"
    assert pitch_token((69, 64, 60)) == "4.9.0" or pitch_token((69, 64, 60)) == "9.0.4"  # normal order of A minor
    assert encode(notes_of(phrase_events(0, 1)), "pitch")[:4] == ["C4", "D4", "E4", "0.4.7"]


def test_group_onsets_merges_simultaneous_notes():
    events = group_onsets([(0.0, 1.0, 60), (0.0, 2.0, 64), (1.0, 1.0, 62)])
    assert events == [(0.0, 2.0, (60, 64)), (1.0, 1.0, (62,))]


def test_decode_round_trips_pitches_at_fixed_step():
    tokens = encode(notes_of(phrase_events(0, 1)), "pitch")
    events = decode(tokens, "pitch", step=0.5)
    assert [e[0] for e in events] == [i * 0.5 for i in range(len(tokens))]
    assert [pitch_token(e[2]) for e in events] == tokens
    assert token_pitches("0.4.7") == (60, 64, 67)
    assert token_pitches("11.2") == (71, 74), "chords are voiced upward"
    assert decode(["C4", "<unk>", "D4"], "pitch") == [(0.0, 0.5, (60,)), (0.5, 0.5, (62,))], "unknown is skipped"


def test_unknown_encoding_is_named():
    with pytest.raises(ValueError, match="unknown encoding 'midi'.*pitch"):
        encode([(0.0, 1.0, 60)], "midi")


# --- rhythm ------------------------------------------------------------------------------------------------

def test_rhythm_tokens_carry_duration_and_time_between_onsets():
    tokens = encode(notes_of(phrase_events(0, 1)), "rhythm")
    assert tokens[:9] == ["C4:1", "+1", "D4:1/2", "+1/2", "E4:1/2", "+1/2", "C4:1", "E4:1", "G4:1"], \
        "a note per token, chord notes one after another, a shift to the next onset"
    assert tokens[-1] == "C4:2" and "+1" in tokens


def test_rests_and_pickups_are_time_shifts():
    notes = [(0.5, 0.5, 67), (1.0, 1.0, 72), (11.5, 0.25, 74)]  # a pickup, then a rest of 9.5 quarters
    tokens = encode(notes, "rhythm")
    assert tokens == ["+1/2", "G4:1/2", "+1/2", "C5:1", "+4", "+4", "+2", "+1/2", "D5:1/4"]
    assert notes_of(decode(tokens, "rhythm")) == notes


def test_shifts_add_up_exactly_on_the_grid():
    for twelfths in range(1, 200):
        gap = Fraction(twelfths, 12)
        assert sum(Fraction(t[1:]) for t in shift_tokens(gap)) == gap


def test_durations_snap_to_the_documented_set():
    assert snap_duration(0.5) == Fraction(1, 2)
    assert snap_duration(0.9) == 1
    assert snap_duration(0.3333) == Fraction(1, 3), "triplets are kept"
    assert snap_duration(20) == 8 and snap_duration(0) == DURATIONS[0]
    assert snap_duration(1.25) in (1, Fraction(3, 2))


def test_quantize_puts_notes_on_the_grid_and_lets_a_pitch_sound_once():
    notes = [(0.01, 0.98, 60), (1.0, 4.0, 62), (3.0, 1.0, 62), (5.0, 0.5, 64), (5.0, 2.0, 64)]
    assert quantize(notes) == [(0.0, 1.0, 60), (1.0, 2.0, 62), (3.0, 1.0, 62), (5.0, 2.0, 64)]
    for onset, duration, _ in quantize([(0.37, 0.7, 60), (1.9, 5.1, 61)]):
        assert (Fraction(onset).limit_denominator(48) / GRID).denominator == 1
        assert Fraction(duration).limit_denominator(48) in DURATIONS


def test_decode_groups_notes_by_onset_and_duration():
    events = decode(["C4:1", "E4:1", "G4:2", "+1", "<unk>", "D4:1/2"], "rhythm")
    assert events == [(0.0, 1.0, (60, 64)), (0.0, 2.0, (67,)), (1.0, 0.5, (62,))]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 24 * 12), st.sampled_from(DURATIONS), st.integers(36, 90)),
                min_size=1, max_size=40))
def test_rhythm_round_trip_keeps_every_note_on_the_grid(raw):
    notes = [(float(Fraction(on, 12)), float(dur), pitch) for on, dur, pitch in raw]
    expected = quantize(notes)
    assert notes_of(decode(encode(notes, "rhythm"), "rhythm")) == expected
    assert quantize(expected) == expected, "quantizing twice changes nothing"


def test_notes_and_first_notes():
    tokens = ["+1/2", "C4:1", "E4:1", "+1", "<unk>", "D4:1/2", "+1/2", "F4:1"]
    assert [is_note(t, "rhythm") for t in tokens] == [False, True, True, False, False, True, False, True]
    assert first_notes(tokens, 3, "rhythm") == tokens[:6]
    assert first_notes(tokens, 10, "rhythm") == tokens
    assert first_notes(["C4", "<unk>", "0.4.7", "D4"], 2, "pitch") == ["C4", "<unk>", "0.4.7"]


def test_follow_matrix_is_the_grammar_of_rhythm_tokens():
    tokens = ["<unk>", "C4:1", "E4:1", "E4:1/2", "G4:1", "+1/2", "+1/4", "+1", "+4"]
    follow = follow_matrix(tokens, "rhythm")
    allowed = {(a, b) for i, a in enumerate(tokens) for j, b in enumerate(tokens) if follow[i, j]}
    assert {("E4:1", "G4:1"), ("E4:1", "+1/2"), ("+1/2", "+1/4"), ("+1/2", "C4:1"), ("+4", "+4"), ("+4", "+1"),
            ("<unk>", "+1/2")} <= allowed
    forbidden = {("E4:1", "C4:1"), ("E4:1", "E4:1/2"), ("E4:1", "E4:1"), ("+1/2", "+1/2"), ("+1/2", "+1"),
                 ("+1/4", "+1/2"), ("+1", "+1")}
    assert not forbidden & allowed
    assert follow_matrix(["C4", "0.4.7"], "pitch") is None, "the 2018 encoding has no grammar"


def test_a_piece_ends_after_a_note_and_the_next_begins_with_a_note_or_a_shift():
    tokens = ["<unk>", "C4:1", "E4:1", "+1/2", END]
    follow = follow_matrix(tokens, "rhythm")
    allowed = {(a, b) for i, a in enumerate(tokens) for j, b in enumerate(tokens) if follow[i, j]}
    assert {("E4:1", END), (END, "C4:1"), (END, "+1/2")} <= allowed
    assert not {("+1/2", END), (END, END)} & allowed, "a piece ends on its last note, and holds one"
    remi = ["<unk>", "K:D", "Bar:3/4", "@0", "C4:1", END]
    follow = get_encoding("remi").follow(remi)
    allowed = {(a, b) for i, a in enumerate(remi) for j, b in enumerate(remi) if follow[i, j]}
    assert {("C4:1", END), (END, "K:D"), (END, "Bar:3/4")} <= allowed
    assert not {("Bar:3/4", END), ("@0", END), (END, "@0"), (END, "C4:1")} & allowed


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_decode_starts_the_next_piece_after_the_last_one_ends(encoding):
    first = encode([(0.0, 1.0, 60), (1.0, 2.5, 64)], encoding)  # rings until 3.5
    second = encode([(0.5, 1.0, 67)], encoding)
    events = decode([*first, END, *second, END], encoding)
    assert [e[2] for e in events] == [(60,), (64,), (67,)]
    assert events[2][0] > events[1][0] + (2.5 if encoding != "pitch" else 0), "the next piece begins after"
    if encoding == "rhythm":
        assert events[2][0] == 4.5, "on the first whole beat after the last note ends, then its own opening rest"
    assert by_piece([END, *first, END, END, *second]) == [first, second]
    assert get_encoding(encoding).transpose(END, 3) == END and not is_note(END, encoding)


def test_nearest_token_keeps_kind_pitch_class_and_rhythm():
    known = ["C#6:1/2", "D4:1/2", "E4:1/4", "E4:1", "+1/6", "+1/2", "C4:1"]
    assert nearest_token("C#8:1/2", known, "rhythm") == "C#6:1/2", "out of range: the same note, octaves in"
    assert nearest_token("E4:1/6", known, "rhythm") == "E4:1/4", "odd duration: the nearest known one"
    assert nearest_token("+1/12", known, "rhythm") == "+1/6"
    assert nearest_token("<unk>", known, "rhythm") is None
    assert nearest_token("+1", ["C4:1"], "rhythm") is None, "no token of the same kind"
    assert nearest_token("0.4.7", ["0.4.8", "0.3.7", "C4", "2.5.9"], "pitch") in ("0.4.8", "0.3.7")
    assert nearest_token("C#7", ["C#5", "D7"], "pitch") == "C#5"


def test_min_count_folds_rare_rhythm_tokens_into_unknown():
    common = encode(notes_of(phrase_events(0, 2)), "rhythm")
    rare = encode([(0.0, 0.6666, 61)], "rhythm")
    vocab = Vocabulary.build([common, rare], min_count=2)
    assert "C#4:2/3" not in vocab.tokens and vocab.ids(rare).tolist() == [0]
    assert "C4:1" in vocab.tokens and "+1/2" in vocab.tokens
    closed = Vocabulary.build([common + [END], rare + [END]], min_count=3)
    assert END in closed.tokens, "END stays in the vocabulary however few the pieces it closes"


# --- real pieces -------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_pieces(tmp_path_factory):
    """Two real pieces of each default genre, exported from music21's corpus as the scrape stage does."""
    from jukebox.sources import export_corpus

    folder = tmp_path_factory.mktemp("corpus")
    files = {}
    for collection in ("oneills1850", "bach", "essenFolksong"):
        records = export_corpus(collection, folder / collection, 2, seed=1)
        files[collection] = [folder / collection / r["file"] for r in records if r["status"] == "kept"]
        assert files[collection], f"no piece of {collection} could be exported"
    return files


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("collection", ["oneills1850", "bach", "essenFolksong"])
def test_midi_to_tokens_to_midi_keeps_every_note_of_real_pieces(real_pieces, collection, encoding, tmp_path):
    from jukebox.encodings.remi_plus import merged_piece

    coder = get_encoding(encoding)
    for path in real_pieces[collection]:
        music = read_music(path)
        on_grid = quantize(music.notes)
        assert len(on_grid) > 20
        tokens = coder.encode(on_grid, music.meters, music.key)
        assert len(set(tokens)) < len(tokens) / 2, "a small vocabulary: tokens repeat"
        vocab = sorted(set(tokens))
        follow, index = coder.follow(vocab), {t: i for i, t in enumerate(vocab)}
        if follow is not None:
            assert all(follow[index[a], index[b]] for a, b in zip(tokens, tokens[1:])), "real music obeys the grammar"
        out = tmp_path / path.name
        write_midi(notes_to_stream(coder.decode(tokens), 40, 120, coder.meters(tokens)), out)
        if encoding == "pitch":  # the 2018 encoding keeps each onset's pitches, a step apart
            assert [pitches for _, _, pitches in group_onsets(played_notes(out))] == \
                [tuple(sorted(token_pitches(pitch_token(p)))) for _, _, p in group_onsets(on_grid)]
            continue
        # played_notes reads the file's note events: music21's score reader would merge notes that start
        # together and end within a sixteenth into one chord.
        if encoding == "remi_plus":  # a note longer than the longest duration is cut, and counted
            cut = coder.outside(merged_piece(on_grid, music.meters)).get("durations_cut", 0)
            assert sum(a != b for a, b in zip(played_notes(out), on_grid)) == cut and len(played_notes(out)) == \
                len(on_grid), f"{path.name}: every note survives, cut ones counted"
            continue
        assert played_notes(out) == on_grid, f"{path.name}: every pitch, onset and duration survives"
        if encoding == "remi":
            assert read_music(out).meters == music.meters, f"{path.name}: every time signature survives"
            bars = [t for t in tokens if t.startswith("Bar:")]
            last = max(on for on, _, _ in on_grid)
            assert bars == [f"Bar:{m}" for start, m in bar_lines(music.meters, last)], "a bar token per bar line"
            assert tokens[0] == key_token(music.key)


def test_remi_writes_key_bars_with_their_meter_and_positions():
    notes = [(0.5, 0.5, 67), (1.0, 1.0, 72), (1.0, 1.0, 76), (3.0, 2.0, 74), (11.5, 0.25, 74)]
    tokens = encode(notes, "remi", meters=[(0.0, "3/4"), (6.0, "2/4")], key="B minor")
    assert tokens == ["K:Bm", "Bar:3/4", "@1/2", "G4:1/2", "@1", "C5:1", "E5:1", "Bar:3/4", "@0", "D5:2",
                      "Bar:2/4", "Bar:2/4", "Bar:2/4", "@3/2", "D5:1/4"]
    remi = get_encoding("remi")
    assert notes_of(remi.decode(tokens)) == notes
    assert remi.meters(tokens) == [(0.0, "3/4"), (6.0, "2/4")]
    assert remi.parse("Bar:6/8") == Token("bar", (), Fraction(3), "6/8")
    assert remi.parse("@3/2") == Token("position", (), Fraction(3, 2))
    assert remi.parse("K:Bm") == Token("key", (11,), Fraction(0), "B minor")
    assert [remi.parse(t) for t in ("Bar:x", "@-1", "K:H", "<unk>")] == [None] * 4
    assert encode([(0.0, 1.0, 60)], "remi") == ["Bar:4/4", "@0", "C4:1"], "no meter: 4/4, as MIDI assumes"


def test_a_meter_change_survives_midi_and_back(tmp_path):
    events = [(float(i), 1.0, (60 + i % 5,)) for i in range(16)]
    meters = [(0.0, "3/4"), (6.0, "2/4"), (10.0, "6/8")]
    write_midi(notes_to_stream(events, meters=meters), tmp_path / "in.mid")
    music = read_music(tmp_path / "in.mid")
    assert music.meters == meters
    remi = get_encoding("remi")
    tokens = remi.encode(music.notes, music.meters, music.key)
    assert [t for t in tokens if t.startswith("Bar:")] == ["Bar:3/4"] * 2 + ["Bar:2/4"] * 2 + ["Bar:6/8"] * 2
    write_midi(notes_to_stream(remi.decode(tokens), meters=remi.meters(tokens)), tmp_path / "out.mid")
    assert read_music(tmp_path / "out.mid")[:2] == music[:2], "notes and meters"


def test_a_meter_change_inside_a_bar_waits_for_the_bar_line():
    assert bar_lines([(0.0, "4/4"), (2.0, "3/4")], 9.0) == [(0, "4/4"), (4, "3/4"), (7, "3/4")]


def test_remi_grammar_keeps_positions_inside_the_bar_and_notes_after_positions():
    tokens = ["<unk>", "K:D", "Bar:3/4", "Bar:4/4", "@0", "@1", "@7/2", "C4:1", "E4:1"]
    follow = get_encoding("remi").follow(tokens)
    allowed = {(a, b) for i, a in enumerate(tokens) for j, b in enumerate(tokens) if follow[i, j]}
    assert {("K:D", "Bar:3/4"), ("Bar:3/4", "@1"), ("Bar:4/4", "@7/2"), ("Bar:3/4", "Bar:3/4"), ("@0", "C4:1"),
            ("C4:1", "E4:1"), ("C4:1", "@1"), ("E4:1", "Bar:4/4"), ("<unk>", "@0")} <= allowed
    forbidden = {("Bar:3/4", "@7/2"), ("Bar:3/4", "C4:1"), ("@0", "@1"), ("@1", "Bar:3/4"), ("C4:1", "@0"),
                 ("E4:1", "C4:1"), ("C4:1", "K:D"), ("K:D", "@0")}
    assert not forbidden & allowed


def test_sampling_under_the_bar_grammar_writes_only_well_formed_bars():
    import numpy as np

    remi = get_encoding("remi")
    vocab = ["<unk>", "K:G", "Bar:3/4", "Bar:6/8", "Bar:4/4", "@0", "@1/2", "@1", "@3/2", "@2", "@5/2", "@3",
             "@7/2", "G4:1/2", "B4:1", "D5:1/2", "G5:3/2"]
    # Three samples continuing primers that stop inside a 3/4 bar after @2, after a note, and at a bar line.
    primers = np.array([[vocab.index(t) for t in row] for row in (
        ["K:G", "Bar:3/4", "@0", "G4:1/2", "@2", "B4:1"],
        ["Bar:4/4", "@0", "G4:1/2", "Bar:3/4", "@1", "D5:1/2"],
        ["G4:1/2", "@3", "B4:1", "@7/2", "D5:1/2", "Bar:6/8"])])
    grammar, rng = remi.grammar(vocab), np.random.default_rng(0)
    state, previous, written = grammar.state(primers), primers[:, -1], [[vocab[i] for i in row] for row in primers]
    for _ in range(3000):  # uniform draws among the allowed tokens: the grammar alone keeps the bars whole
        allowed, state = grammar.mask(state, previous)
        allowed = allowed.numpy()
        previous = np.array([rng.choice(np.flatnonzero(row)) for row in allowed])
        for piece, i in zip(written, previous):
            piece.append(vocab[i])
    for piece in written:
        bars, well = bar_report(piece)
        assert bars > 100 and well == bars
    first_bar = next(i for i, t in enumerate(written[0]) if i >= 6 and t.startswith("Bar:"))
    assert set(written[0][6:first_bar]) <= {"@5/2", "G4:1/2", "B4:1", "D5:1/2", "G5:3/2"}, \
        "after @2 of a 3/4 bar only @5/2 fits"
    assert get_encoding("rhythm").grammar(["C4:1", "+1"]) is not None and get_encoding("pitch").grammar(["C4"]) is None


def test_bar_report_counts_closed_bars_and_the_well_formed_ones():
    tokens = ["@1", "C4:1", "Bar:3/4", "@0", "C4:1", "@2", "D4:1", "Bar:3/4", "@2", "C4:1", "@1", "D4:1",
              "Bar:2/4", "@3", "C4:1", "Bar:2/4"]
    assert bar_report(tokens) == (3, 1), "rising positions inside the bar: only the first closed bar"
    remi = get_encoding("remi")
    # A sample starting inside its primer's bar: that bar counts as a whole bar of the first meter named.
    assert notes_of(remi.decode(tokens[:7])) == [(1.0, 1.0, 60), (3.0, 1.0, 60), (5.0, 1.0, 62)]


@pytest.mark.parametrize("encoding, token, up, down", [
    ("pitch", "E5", "F#5", "D5"), ("pitch", "0.4.7", "2.6.9", "10.2.5"),
    ("rhythm", "E5:1/2", "F#5:1/2", "D5:1/2"), ("rhythm", "+1/2", "+1/2", "+1/2"),
    ("remi", "K:Bm", "K:C#m", "K:Am"), ("remi", "Bar:6/8", "Bar:6/8", "Bar:6/8"), ("remi", "@1", "@1", "@1"),
    ("remi", "G9:1", None, "F9:1"), ("rhythm", "<unk>", "<unk>", "<unk>"),
])
def test_every_encoding_transposes_its_tokens(encoding, token, up, down):
    assert get_encoding(encoding).transpose(token, 2) == up
    assert transpose_token(token, -2, encoding) == down


def test_key_mode_c_moves_pieces_to_c_major_or_a_minor():
    assert key_shift("D major") == -2 and key_shift("B minor") == -2 and key_shift("F# major") == 6
    assert key_shift("C major") == 0 and key_shift("A minor") == 0 and key_shift("Ab major") == 4
    notes, key, shift = in_c([(0.0, 1.0, 62), (1.0, 1.0, 66)], "D major")
    assert (notes, key, shift) == ([(0.0, 1.0, 60), (1.0, 1.0, 64)], "C major", -2)
    record = {"notes": [[0.0, 1.0, 62], [1.0, 1.0, 66]], "meters": [[0.0, "3/4"]], "key": "D major"}
    assert piece_tokens(get_encoding("remi"), record, "c") == ["K:C", "Bar:3/4", "@0", "C4:1", "@1", "E4:1"]
    assert piece_tokens(get_encoding("rhythm"), record, "keep") == ["D4:1", "+1", "F#4:1"]
    old = {"notes": [[0.0, 1.0, 62], [1.0, 1.0, 66], [2.0, 1.0, 69]]}  # a note stream parsed before meters and keys
    assert piece_tokens(get_encoding("remi"), old, "keep")[:3] == ["K:D", "Bar:4/4", "@0"]


def test_get_encoding_names_the_allowed_ones():
    assert [get_encoding(name).name for name in ENCODINGS] == list(ENCODINGS)
    with pytest.raises(ValueError, match="unknown encoding 'midi'.*remi"):
        get_encoding("midi")


def test_transpose_token_moves_pitch_and_keeps_rhythm():
    assert transpose_token("E5:1/2", 2, "rhythm") == "F#5:1/2"
    assert transpose_token("C4:3/2", -1, "rhythm") == "B3:3/2"
    assert transpose_token("+1/3", 5, "rhythm") == "+1/3" and transpose_token("<unk>", 5, "rhythm") == "<unk>"
    assert transpose_token("G9:1", 1, "rhythm") is None, "beyond MIDI's 127"
    assert transpose_token("E5", -4, "pitch") == "C5"
    assert transpose_token("0.4.7", 2, "pitch") == "2.6.9", "a chord's pitch classes rotate"
    assert transpose_token("11.2.6", 1, "pitch") == "0.3.7"
