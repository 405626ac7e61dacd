"""Instruments kept end to end (issue 30): names and voices, the grammars of both multi-track encodings (rhythm with
Program_ and Drum_ tokens, remi_plus), and a drum collection through the `local` source that trains, composes
multi-track samples with audible, coloured drums, and is judged, under each of them."""
import json

import numpy as np
import pytest
import yaml

from jukebox.encodings import get_encoding
from jukebox.encodings.base import record_piece
from jukebox.encodings.remi_plus import RemiPlus, well_typed
from jukebox.generation import instrument_of
from jukebox.instruments import DRUM_PROGRAM, instrument_statistics, programs_of, range_overlap
from jukebox.parsing import voice_programs
from jukebox.midi_io import MultiTrack, Track, TrackNote, read_tracks, write_tracks
from tests.conftest import drum_band, melody_and_drums

ENCODING = RemiPlus()
MULTITRACK = ("rhythm", "remi_plus")
# What a flute + drums primer reads as under each encoding: its instrument and its kick and hi-hat.
PRIMER_TOKENS = {"rhythm": {"Program_73", "Drum_36", "Drum_42"},
                 "remi_plus": {"Program_-1", "Program_73", "PitchDrum_36", "PitchDrum_42"}}


def test_instrument_names_are_families_programs_or_drums_and_a_wrong_one_is_named():
    assert programs_of(["bass"]) == frozenset(range(32, 40))
    assert programs_of(["piano", "drums", "program 73"]) == frozenset([*range(8), DRUM_PROGRAM, 73])
    with pytest.raises(ValueError, match="unknown instrument 'banjoo'.*piano"):
        programs_of(["banjoo"])


@pytest.mark.parametrize("name", MULTITRACK)
def test_a_chorales_four_voices_get_programs_of_their_own_and_survive_each_multitrack_encoding(tmp_path, name):
    from music21 import corpus, midi

    from jukebox.parsing import read_piece_tracks

    (tmp_path / "chorale.mid").write_bytes(midi.translate.music21ObjectToMidiFile(corpus.parse("bach/bwv66.6"))
                                           .writestr())
    record = read_piece_tracks(tmp_path / "chorale.mid")
    # Soprano to bass: violin, viola, cello, contrabass; every note of every voice is still there.
    assert [(t["name"], t["program"]) for t in record["tracks"]] == [("Soprano", 40), ("Alto", 41), ("Tenor", 42),
                                                                    ("Bass", 43)]
    before = read_tracks(tmp_path / "chorale.mid")
    assert [t["notes"] for t in record["tracks"]] == [[list(n) for n in t.notes] for t in before.tracks]
    coder = get_encoding(name)
    tokens, _ = coder.encode_piece(record_piece(record))
    back = coder.decode_piece(tokens)
    assert sorted(t.program for t in back.tracks) == [40, 41, 42, 43]
    back = back._replace(tracks=sorted(back.tracks, key=lambda t: t.program))
    assert [[(n.onset, n.duration, n.pitch) for n in t.notes] for t in back.tracks] == \
        [[tuple(n[:3]) for n in t["notes"]] for t in record["tracks"]]


def test_voices_of_another_shared_program_stay_in_its_family_and_single_tracks_keep_theirs():
    tracks = [{"program": 33, "is_drum": False, "notes": [[0, 1, 40]]},
              {"program": 33, "is_drum": False, "notes": [[0, 1, 52]]},
              {"program": 0, "is_drum": True, "notes": [[0, 1, 36]]}, {"program": 73, "is_drum": False,
                                                                       "notes": [[0, 1, 80]]}]
    assert [t["program"] for t in voice_programs(tracks)] == [32, 33, 0, 73]  # the higher keeps 33, the lower the first free bass


def test_the_grammar_allows_every_real_stream_and_makes_each_note_name_a_fitting_instrument():
    tokens = ENCODING.vocabulary.tokens
    follow = ENCODING.follow(tokens)
    for bars in (1, 3):
        stream, _ = ENCODING.encode_piece(drum_band(bars))
        ids = ENCODING.vocabulary.ids(stream)
        assert all(follow[a, b] for a, b in zip(ids, ids[1:]))
    index = ENCODING.vocabulary.id
    assert follow[index("Program_-1")].sum() == sum(t.startswith("PitchDrum_") for t in tokens)
    assert follow[index("Program_-1"), index("Pitch_60")] == 0 and follow[index("Program_33"), index("PitchDrum_36")] == 0
    assert follow[index("Duration_1.0.12"), index("Pitch_60")] == 0  # a note never borrows the program before it
    allowed = ENCODING.allowed(programs_of(("bass", "drums")), tokens)
    programs = {t for t, a in zip(tokens, allowed) if t.startswith("Program_") and a}
    assert programs == {f"Program_{p}" for p in [*range(32, 40), -1]}
    assert allowed[index("Pitch_60")] == 1


def test_rhythm_names_each_instrument_once_where_it_changes_and_a_merged_stream_not_at_all():
    coder = get_encoding("rhythm")
    flute = MultiTrack([Track(73, False, [TrackNote(i / 2, 0.5, 72 + i % 5) for i in range(16)])], [], 100.0)
    tokens, _ = coder.encode_piece(flute)
    assert tokens[0] == "Program_73" and sum(t.startswith("Program_") for t in tokens) == 1
    # The same notes as a merged record (instruments: merge): the single-stream tokens, no instrument at all.
    record = {"notes": [[n.onset, n.duration, n.pitch] for n in flute.tracks[0].notes]}
    merged, _ = coder.encode_record(record, "keep")
    assert merged == tokens[1:] == coder.encode([tuple(n) for n in record["notes"]])
    # Notes before any instrument is named play the caller's (a genre's own program).
    assert [t.program for t in coder.decode_piece(merged, program=40).tracks] == [40]
    band, _ = coder.encode_piece(drum_band(2))
    back = coder.decode_piece(band)
    assert {(t.program, t.is_drum) for t in back.tracks} == {(33, False), (73, False), (0, True)}
    drums = next(t for t in back.tracks if t.is_drum)
    assert {n.pitch for n in drums.notes} == {36, 38, 42} and all(n.duration == 0.25 for n in drums.notes)


@pytest.mark.parametrize("name", MULTITRACK)
def test_the_drum_fixture_goes_through_tokens_and_back_to_midi_with_every_note_instrument_and_its_tempo(tmp_path,
                                                                                                     name):
    coder = get_encoding(name)
    band = drum_band(3)._replace(bpm=96.0)
    tokens, outside = coder.encode_piece(band)
    assert not outside
    write_tracks(coder.decode_piece(tokens, band.bpm), tmp_path / "band.mid")
    back = read_tracks(tmp_path / "band.mid")
    assert back.bpm == 96.0
    key = lambda track: (track.is_drum, track.program if not track.is_drum else 0)  # noqa: E731
    assert sorted(map(key, back.tracks)) == sorted(map(key, band.tracks))
    for track in band.tracks:
        other = next(t for t in back.tracks if key(t) == key(track))
        assert [(n.onset, n.duration, n.pitch) for n in other.notes] == \
            sorted((n.onset, n.duration, n.pitch) for n in track.notes), f"{name}: track {key(track)}"


def test_the_rhythm_grammar_allows_every_real_stream_and_a_request_bans_other_instruments_notes():
    import tensorflow as tf

    from jukebox.encodings.fixed import fixed_vocabulary

    coder, vocabulary = get_encoding("rhythm"), fixed_vocabulary("rhythm")
    follow, index = coder.follow(vocabulary.tokens), vocabulary.id
    for bars in (1, 3):
        ids = vocabulary.ids(coder.encode_piece(drum_band(bars))[0])
        assert all(follow[a, b] for a, b in zip(ids, ids[1:]))
    assert follow[index("Program_33")].sum() == sum(coder.parse(t) is not None and coder.parse(t).kind == "note"
                                                    for t in vocabulary.tokens)
    assert follow[index("Program_33"), index("Drum_36")] == 0 and follow[index("C4:1"), index("Drum_36")] == 0
    # A sample asked for drums whose primer named the bass: no pitched note until an allowed instrument is named.
    grammar = coder.grammar(vocabulary.tokens)
    allowed = np.stack([coder.allowed(programs_of(("drums",)), vocabulary.tokens), np.ones(len(vocabulary))])
    primers = vocabulary.ids(["Program_33", "E2:1", "+1"])[None, :].repeat(2, axis=0)
    state = grammar.state(primers, allowed, np.array([True, False]))
    mask, state = grammar.mask(state, tf.constant(primers[:, -1]))
    assert mask[0, index("C4:1")] == 0 and mask[0, index("Drum_36")] == 1 and mask[1, index("C4:1")] == 1
    assert allowed[0, index("Program_33")] == 0 and allowed[0, index("Drum_36")] == 1


def test_a_single_stream_genre_refuses_instruments_by_name(tmp_path):
    from jukebox.generation import Composer, Sampling
    from tests.tiny_genre import write_tiny_genre

    composer = Composer.load(write_tiny_genre(tmp_path) / "models/tiny")
    assert composer.allowed([Sampling(8)]) is None and composer.instruments() == []
    with pytest.raises(ValueError, match="rhythm model plays one instrument.*instruments: keep"):
        composer.allowed([Sampling(8), Sampling(8, instruments=("bass",))])


def test_instrument_statistics_of_a_band_against_itself_and_against_another():
    band = [drum_band(2), drum_band(3)]
    same = instrument_statistics(band, band)
    assert same["instrument_set_overlap"] == 1.0
    assert same["drum_onset_overlap"] == {"kick": 1.0, "snare": 1.0, "hi-hat": 1.0}
    assert same["range_overlap"] == {"program 33": 1.0, "program 73": 1.0}
    assert same["note_shares"]["generated"]["drums"] > 0.5
    assert same["regular_instruments"] == ["drums", "program 33", "program 73"]
    assert same["samples_with_regular_instruments"] == 1.0
    # A chorale-like case: an instrument only one real piece in three plays is not required of every sample, and a
    # sample is judged whole, though it was cut into pieces, one of which lacks the bass.
    extra = band + [MultiTrack([*band[0].tracks, Track(41, False, [TrackNote(0.0, 1.0, 60)])], band[0].meters)]
    without_bass = band[1]._replace(tracks=[t for t in band[1].tracks if t.program != 33 or t.is_drum])
    cut = instrument_statistics([band[0], without_bass], extra, samples=[band[0], band[1]])
    assert cut["regular_instruments"] == ["drums", "program 33", "program 73"]
    assert cut["samples_with_regular_instruments"] == 1.0 and cut["samples_with_every_instrument"] == 0.0
    assert instrument_statistics([band[0], without_bass], extra)["samples_with_regular_instruments"] == 0.5
    # Drums moved half a beat later, the melody an octave down: the drum pattern and its range no longer match.
    moved = [MultiTrack([t._replace(notes=[n._replace(onset=n.onset + 0.5) for n in t.notes]) if t.is_drum else
                         t._replace(notes=[n._replace(pitch=n.pitch - 12) for n in t.notes]) if t.program == 73 else t
                         for t in p.tracks], p.meters, p.bpm) for p in band]
    other = instrument_statistics(moved, band)
    assert other["drum_onset_overlap"]["kick"] == 0.0 and other["range_overlap"]["program 73"] < 0.2
    assert other["samples_with_every_instrument"] == 1.0
    assert range_overlap((60, 72), (60, 72)) == 1.0 and range_overlap((40, 50), (70, 80)) == 0.0


# --- a drum collection through the local source, end to end --------------------------------------------------
def band_piece(i: int) -> MultiTrack:
    """A varied band: drum_band's kick/snare/hi-hat, bass and melody, with its length, hi-hat, key and tempo moved."""
    base = drum_band(2 + i % 3)
    tracks = []
    for track in base.tracks:
        notes = track.notes
        if track.is_drum and i % 2:  # open hi-hat on the off-beats in odd pieces
            notes = [n._replace(pitch=46) if n.pitch == 42 and n.onset % 1 else n for n in notes]
        elif not track.is_drum:
            notes = [n._replace(pitch=n.pitch + (i % 4) - 1) for n in notes]
        tracks.append(track._replace(notes=notes))
    return MultiTrack(tracks, base.meters, 96.0 + 4 * i)


@pytest.fixture(scope="module", params=MULTITRACK)
def band_project(tmp_path_factory, request):
    """A project whose genre `band` (instruments keep, under each multi-track encoding) went scrape (local) ->
    parse -> sequences -> train -> generate -> evaluate, with a tiny model."""
    import os

    project = tmp_path_factory.mktemp(f"band_{request.param}")
    collection = project / "my_band"
    collection.mkdir()
    for i in range(10):
        write_tracks(band_piece(i), collection / f"song_{i}.mid")
    params = yaml.safe_load(open("params.yaml"))
    # From scratch, with a tiny model: the shipped base is 128 wide.
    params.update(seed=3, seq_len=32, val_fraction=0.2, encoding=request.param, init="scratch", jobs=1, epochs=6,
                  windows_per_epoch=512, val_windows=32, batch_size=16, layers=1, units=32, heads=2, token_conv=0,
                  transpose=0, warmup_steps=4, n_notes=120, n_samples=2, eval_samples=6, top_p=1.0)
    params["genres"] = {"band": {"source": "local", "path": str(collection), "instruments": "keep", "bpm": 100}}
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    before = os.getcwd()
    os.chdir(project)
    try:
        import keras

        from stages import evaluate, generate, parse, scrape, sequences, train

        keras.utils.set_random_seed(0)
        for stage in (scrape, parse, sequences, train, generate, evaluate):
            stage.main("band")
    finally:
        os.chdir(before)
    return project


def _encoding(project) -> str:
    return yaml.safe_load((project / "params.yaml").read_text())["encoding"]


def _rms(path) -> tuple[float, float]:
    """(the loudest 50 ms's RMS, the whole file's RMS) of an audio file, both channels mixed; 0 for silence."""
    import soundfile

    audio, rate = soundfile.read(str(path))
    mono = audio.mean(axis=1) if audio.ndim > 1 else audio
    window = rate // 20
    frames = mono[: len(mono) // window * window].reshape(-1, window)
    if not len(frames):
        return 0.0, 0.0
    return float(np.sqrt(np.square(frames).mean(axis=1)).max()), float(np.sqrt(np.square(mono).mean()))


@pytest.mark.slow
def test_a_drum_collection_composes_multitrack_samples_with_audible_coloured_drums(band_project, tmp_path):
    from matplotlib.image import imread

    from jukebox.render import AUDIO_SETUP, DRUM_COLOUR, audio_tools, write_audio

    out = band_project / "data/generated/band"
    samples = json.loads((out / "samples.json").read_text())
    tools = audio_tools()
    assert tools is not None, AUDIO_SETUP
    drummed = 0
    for sample in samples:
        piece = read_tracks(out / sample["file"])
        assert len(piece.tracks) >= 2 and piece.bpm == 100.0  # one track per instrument, at the genre's tempo
        assert "drums" in sample["instruments"] or not any(t.is_drum for t in piece.tracks)
        drums = [t for t in piece.tracks if t.is_drum]
        if not drums:
            continue
        drummed += 1
        assert sum(len(t.notes) for t in drums) >= 16, "a drum track, not a stray hit"
        # The drum track alone, rendered as the sample is: well above silence (a silent file's RMS is 0).
        write_tracks(piece._replace(tracks=drums), tmp_path / "drums.mid")
        write_audio(tmp_path / "drums.mid", tmp_path / "drums.flac", *tools)
        loudest, whole = _rms(tmp_path / "drums.flac")
        assert loudest > 0.03 and whole > 0.003, (loudest, whole)
        assert _rms(out / sample["files"]["flac"])[0] > 0.03
        # The roll draws the hits in the drums' colour.
        image = imread(out / sample["files"]["png"])[..., :3]
        colour = np.array([int(DRUM_COLOUR[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        assert (np.abs(image - colour).max(axis=-1) < 0.05).sum() > 20
        # The score: one part per instrument, the drums on a percussion staff.
        from music21 import clef, converter

        score = converter.parse(str(out / sample["files"]["musicxml"]))
        assert len(score.parts) == len(piece.tracks)
        assert any(part.recurse().getElementsByClass(clef.PercussionClef) for part in score.parts)
    assert drummed >= 1


@pytest.mark.slow
def test_evaluate_reports_instruments_drums_and_ranges_of_a_band(band_project):
    report = json.loads((band_project / "metrics/band/evaluate.json").read_text())
    instruments = report["instruments"]
    assert 0 < instruments["instrument_set_overlap"] <= 1
    assert set(instruments["drum_onset_overlap"]) == {"kick", "snare", "hi-hat"}
    assert set(instruments["range_overlap"]) >= {"program 33", "program 73"}
    assert "drums" in instruments["note_shares"]["held_out"]
    assert report["realness"].get("instrument_features") is True or report["realness"]["classifier_accuracy"] is None


@pytest.mark.slow
def test_many_samples_never_drum_a_pitch_nor_pitch_a_drum(band_project):
    from jukebox.generation import Composer, Sampling
    from jukebox.layout import Layout
    from jukebox.midi_io import read_midi_events
    from jukebox.params import load_params
    from jukebox.samples import compose

    layout = Layout.of(band_project)
    genre = load_params(layout.params).genre("band")
    composer = Composer.load(layout.model("band"))
    pieces = compose(layout, genre, Sampling(n_notes=80, temperature=1.5, seed=11), count=24, composer=composer)
    remi_plus = _encoding(band_project) == "remi_plus"
    for i, piece in enumerate(pieces):
        # The piece continues its primer: its first note may be the one the primer's last Program token began.
        primer = composer.vocab.decode(piece.primer.window)
        last = max(i for i, t in enumerate(primer) if t.startswith("Program_"))
        tokens = primer[last:] + piece.tokens
        path = band_project / f"many_{i}.mid"
        piece.write(path, render=False)
        drum_keys, pitches, program = set(), set(), None
        if not remi_plus:  # rhythm: a hit is a Drum_ token, a pitch a note token, and an instrument names a pitch
            kinds = [composer.encoder.parse(t).kind for t in tokens]
            assert all(b == "note" for a, b in zip(kinds, kinds[1:]) if a == "program")
            drum_keys = {int(t[len("Drum_"):]) for t in tokens if t.startswith("Drum_")}
            pitches = {composer.encoder.parse(t).pitches[0] for t, k in zip(tokens, kinds) if k == "note"}
        else:
            assert well_typed(tokens) == tokens  # the grammar composed no ill-typed note to drop
        for token in tokens if remi_plus else ():
            kind, _, value = token.partition("_")
            if kind == "Program":
                program = int(value)
            elif kind == "PitchDrum":
                assert program == DRUM_PROGRAM
                drum_keys.add(int(value))
            elif kind == "Pitch":
                assert program is not None and program >= 0
                pitches.add(int(value))
        for track in read_midi_events(path).tracks:
            for event in track.events:
                if event.isNoteOn():
                    assert event.pitch in (drum_keys if event.channel == 10 else pitches)


@pytest.mark.slow
@pytest.mark.parametrize("asked", [("drums",), ("bass",), ("bass", "drums")])
def test_a_request_for_instruments_is_always_honoured(band_project, asked):
    from jukebox.generation import Composer, Sampling
    from jukebox.layout import Layout
    from jukebox.params import load_params
    from jukebox.samples import compose

    layout = Layout.of(band_project)
    genre = load_params(layout.params).genre("band")
    composer = Composer.load(layout.model("band"))
    assert set(composer.instruments()) == {"drums", "bass", "pipe"}
    programs = programs_of(asked)
    pieces = compose(layout, genre, Sampling(n_notes=60, seed=5, instruments=asked), count=4, composer=composer)
    for i, piece in enumerate(pieces):
        generated = [instrument_of(t) for t in piece.tokens if instrument_of(t) is not None]
        assert generated and set(generated) <= programs
        record = piece.write(band_project / f"asked_{i}.mid", render=False)
        assert record["instruments_asked"] == list(asked)
        tracks = read_tracks(band_project / f"asked_{i}.mid").tracks
        assert tracks and all((DRUM_PROGRAM if t.is_drum else t.program) in programs for t in tracks)


@pytest.mark.slow
def test_jukebox_generate_instruments_writes_only_them_and_names_a_wrong_one(band_project, capsys):
    from jukebox.cli import main

    out = band_project / "cli.mid"
    main(["--project", str(band_project), "generate", "--genre", "band", "--instruments", "drums", "--n-notes",
          "40", "--out", str(out)])
    assert [t.is_drum for t in read_tracks(out).tracks] == [True]
    with pytest.raises(SystemExit):
        main(["--project", str(band_project), "generate", "--genre", "band", "--instruments", "kazoo", "--out",
              str(out)])
    assert "unknown instrument 'kazoo'" in capsys.readouterr().err


def test_a_multitrack_primer_keeps_its_instruments(band_project, tmp_path):
    from jukebox.generation import Composer
    from jukebox.primers import primer_track_tokens, read_primer

    primer = melody_and_drums(tmp_path / "primer.mid")
    composer = Composer.load(band_project / "models/band")
    tokens = primer_track_tokens(composer, read_primer(primer, composer.seq_len, tracks=True), primer)
    assert PRIMER_TOKENS[_encoding(band_project)] <= set(tokens)
    assert len(tokens) <= composer.seq_len


def test_a_multitrack_primer_is_read_once(band_project, tmp_path, monkeypatch):
    """key_mode c read the whole file a second time for its key."""
    from jukebox import parsing
    from jukebox.generation import Composer
    from jukebox.samples import choose_primers

    primer = melody_and_drums(tmp_path / "primer.mid")
    loaded = Composer.load(band_project / "models/band")
    in_c = Composer(loaded.model, loaded.vocab, loaded.config, key_mode="c")
    real, reads = parsing.read_piece_tracks, []
    monkeypatch.setattr(parsing, "read_piece_tracks", lambda *a, **k: reads.append(a) or real(*a, **k))
    chosen = choose_primers(in_c, band_project / "data/sequences/band/val.npy", seed=0, count=3, primer=primer)
    assert len(reads) == 1 and len(chosen) == 3


def test_a_primer_uploaded_on_the_web_keeps_its_tracks_as_jukebox_generate_reads_them(band_project, tmp_path,
                                                                                        monkeypatch):
    """The web's primer reader read every primer as one merged stream: a band genre lost the primer's drums."""
    from jukebox.generation import Composer, Sampling
    from jukebox.samples import choose_primers
    from jukebox.web.composing import Studio
    from jukebox.web.services import Services

    primer = melody_and_drums(tmp_path / "primer.mid")
    studio = Studio(band_project, primer_timeout=30)
    chosen = []
    real_primer = Studio.primer
    monkeypatch.setattr(Studio, "primer", lambda self, *a: chosen.append(real_primer(self, *a)) or chosen[-1])
    try:
        sample = Services(band_project, None, studio, None, 2000).compose("band", Sampling(8, seed=1),
                                                                          ("two_tracks.mid", primer.read_bytes()))
    finally:
        studio.primers.close()
    composer = Composer.load(band_project / "models/band")
    window = composer.vocab.decode(chosen[0].window)
    assert PRIMER_TOKENS[_encoding(band_project)] <= set(window), "the drums and the flute are kept"
    cli = choose_primers(composer, band_project / "data/sequences/band/val.npy", seed=0, primer=primer)[0]
    assert (chosen[0].window == cli.window).all(), "the same window `jukebox generate --primer` continues"
    assert sample["primer"] == "opening of two_tracks.mid"


def test_a_piece_that_begins_inside_its_primers_note_keeps_that_notes_instrument():
    from jukebox.encodings.remi_plus import continued

    primer = ["Bar_None", "Position_0", "Program_73", "Pitch_72"]
    piece = ["Velocity_79", "Duration_1.0.12", "Position_12", "Program_-1", "PitchDrum_36", "Velocity_79",
             "Duration_0.3.12"]
    decoded = ENCODING.decode_piece(["Bar_None", "Position_0", *continued(primer, ["Pitch_72", *piece])])
    assert {(t.program, t.is_drum) for t in decoded.tracks} == {(73, False), (0, True)}
    assert continued(primer, piece[2:]) == piece[2:]  # a piece that opens with its own program is left alone
    rhythm = get_encoding("rhythm")
    primer, piece = ["Program_73", "C5:1", "Program_33", "C2:1"], ["+1", "Drum_36", "D2:1", "Program_73", "E5:1"]
    assert rhythm.continued(primer, piece) == ["Program_33", *piece]  # the bass plays on
    assert rhythm.continued(primer, piece[3:]) == piece[3:] and rhythm.continued([], piece) == piece


@pytest.mark.slow
def test_the_generate_page_offers_the_genres_instruments_and_honours_the_ticked_ones(band_project):
    import re

    from jukebox.web import create_app

    # The app shows a genre once DVC recorded its training and samples; here the stages ran by hand.
    (band_project / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"train@band": {},
                                                                                      "generate@band": {}}}))
    client = create_app({"PROJECT": str(band_project)}).test_client()
    page = client.get("/generate").get_data(as_text=True)
    ticks = re.findall(r'<input[^>]*type="checkbox"[^>]*value="([^"]+)"|<input[^>]*value="([^"]+)"[^>]*type="checkbox"',
                       page)
    assert sorted(a or b for a, b in ticks) == ["bass", "drums", "pipe"]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = client.post("/generate", data={"csrf_token": token, "genre": "band", "n_notes": 30, "seed": 2,
                                            "instruments": ["bass", "drums"]})
    assert answer.status_code == 200
    sample_id = re.search(r"/samples/([0-9a-f]+)/", answer.get_data(as_text=True)).group(1)
    record = json.loads((band_project / ".jukebox/samples" / sample_id / "sample.json").read_text())
    assert record["instruments_asked"] == ["bass", "drums"]
    tracks = read_tracks(band_project / ".jukebox/samples" / sample_id / record["file"]).tracks
    assert tracks and all(t.is_drum or 32 <= t.program < 40 for t in tracks)
    # A name that is not a checkbox of the page is refused by the form, and nothing is composed.
    refused = client.post("/generate", data={"csrf_token": token, "genre": "band", "instruments": ["kazoo"]})
    assert refused.status_code == 400 and "kazoo" in refused.get_data(as_text=True)
