from jukebox.encoding import decode, encode, group_onsets, pitch_token, token_pitches
from tests.conftest import phrase_events


def notes_of(events):
    return [(on, dur, p) for on, dur, pitches in events for p in pitches]


def test_pitch_encoding_is_the_2018_one():
    assert pitch_token((76,)) == "E5"
    assert pitch_token((60, 64, 67)) == "0.4.7"
    assert pitch_token((69, 64, 60)) == "4.9.0" or pitch_token((69, 64, 60)) == "9.0.4"  # normal order of A minor
    assert encode(notes_of(phrase_events(0, 1)))[:4] == ["C4", "D4", "E4", "0.4.7"]


def test_group_onsets_merges_simultaneous_notes():
    events = group_onsets([(0.0, 1.0, 60), (0.0, 2.0, 64), (1.0, 1.0, 62)])
    assert events == [(0.0, 2.0, (60, 64)), (1.0, 1.0, (62,))]


def test_decode_round_trips_pitches_at_fixed_step():
    tokens = encode(notes_of(phrase_events(0, 1)))
    events = decode(tokens, step=0.5)
    assert [e[0] for e in events] == [i * 0.5 for i in range(len(tokens))]
    assert [pitch_token(e[2]) for e in events] == tokens
    assert token_pitches("0.4.7") == (60, 64, 67)
    assert token_pitches("11.2") == (71, 74), "chords are voiced upward"
