import json

import pytest

from jukebox.midi_io import read_notes
from jukebox.sources import (PieceRef, _export, _midi_bytes, _without_beams, abc_tune_text, choose, export_corpus,
                             import_folder, list_collection)


def test_collection_lists_every_tune_of_abc_files():
    pieces = list_collection("oneills1850")
    assert len(pieces) > 1900 and all(p.number is not None for p in pieces)
    assert len({p.name for p in pieces}) == len(pieces)


def test_choose_is_seeded_and_keeps_order():
    items = list(range(100))
    picked = choose(items, 10, seed=5)
    assert picked == choose(items, 10, seed=5) and picked == sorted(picked) and len(picked) == 10
    assert choose(items, 0, 5) == items


def test_export_keeps_tunes_music21_fails_to_write(tmp_path):
    # Tune 1 shares its TimeSignature between two measures; tune 425 has repeats music21 cannot expand.
    refs = [r for r in list_collection("oneills1850") if r.name in ("0001-0050-0001", "0401-0486-0425")]
    assert len(refs) == 2
    import jukebox.sources as sources

    original = sources.list_collection
    sources.list_collection = lambda _: refs
    try:
        records = export_corpus("oneills1850", tmp_path, max_pieces=0, seed=0)
    finally:
        sources.list_collection = original
    assert [r["status"] for r in records] == ["kept", "kept"], records
    for r in records:
        assert len(read_notes(tmp_path / r["file"])) > 50


ABC = """%abc-2.1
M:6/8
L:1/8

X:1
T:First
K:G
GAB cde|d3 B3:|

X:2
T:Second
K:D
FAd fed|A3 F3|]
"""


# No L: field: music21 reading the whole file keeps the first meter's eighth-note unit for the 2/4 tune too.
HORNPIPES = """X:1
T:Reel
M:C|
K:D
fef(g af)ge|fde(ddc)AG|]

X:2
T:Hornpipe
M:2/4
K:G
B>c|d>de>d B2c>A|G>GA>F G2:|
"""


@pytest.mark.parametrize("text", [ABC, HORNPIPES])
def test_one_tune_is_read_as_the_whole_file_reads_it(tmp_path, text):
    from music21 import abcFormat
    from music21.abcFormat import translate

    file = tmp_path / "tunes.abc"
    file.write_text(text, encoding="utf-8")
    whole = abcFormat.ABCFile().readstr(text).splitByReferenceNumber()
    for number in (1, 2):
        data, reason = _export(PieceRef(file, number))
        assert reason == "" and data == _midi_bytes(translate.abcToStreamScore(whole[number]))


def test_one_tune_keeps_the_file_header(tmp_path):
    assert abc_tune_text(ABC, 2).splitlines() == ["%abc-2.1", "M:6/8", "L:1/8", "", "X:2", "L:1/8", "T:Second",
                                                  "K:D", "FAd fed|A3 F3|]"]
    assert abc_tune_text(HORNPIPES, 2).splitlines()[:3] == ["X:2", "L:1/8", "T:Hornpipe"]
    file = tmp_path / "tunes.abc"
    file.write_text(ABC, encoding="utf-8")
    meters = [m[1] for m in read_music_meters(tmp_path, _export(PieceRef(file, 2))[0])]
    assert meters == ["6/8"], "the header's meter applies to the tune"


def read_music_meters(folder, data):
    from jukebox.parsing import read_music

    path = folder / "tune.mid"
    path.write_bytes(data)
    return read_music(path).meters


def test_export_reads_each_chosen_tune_as_the_whole_file_does():
    from music21 import abcFormat
    from music21.abcFormat import translate

    refs = [r for r in list_collection("essenFolksong") if r.file.name == "han2.abc"][::150]
    handler = abcFormat.ABCFile()
    handler.open(str(refs[0].file))
    whole = handler.read().splitByReferenceNumber()
    handler.close()
    assert len(refs) == 5
    for ref in refs:
        assert _export(ref)[0] == _midi_bytes(translate.abcToStreamScore(whole[ref.number])), ref.name


def test_an_export_worker_skips_beams_and_writes_the_same_midi(monkeypatch):
    from music21 import stream

    # Twelve of O'Neill's tunes and five Essen songs, chosen by seed.
    refs = choose(list_collection("oneills1850"), 12, 3) + choose(list_collection("essenFolksong"), 5, 3)
    beamed = [_export(ref) for ref in refs]
    monkeypatch.setattr(stream.Part, "makeBeams", stream.Part.makeBeams)  # restored after the test
    _without_beams()
    part = stream.Part()
    assert part.makeBeams(inPlace=True) is None and part.makeBeams() is part, "no beams, and no copy either"
    assert [_export(ref) for ref in refs] == beamed
    assert all(data for data, _ in beamed)


def test_import_folder_skips_non_midi_and_duplicates(tmp_path, midi_folder):
    (midi_folder / "notes.txt.mid").write_text("not midi")
    (midi_folder / "copy.MID").write_bytes((midi_folder / "tune_0.mid").read_bytes())
    records = import_folder(midi_folder, tmp_path / "raw", 0, 0)
    by_status = {}
    for r in records:
        by_status.setdefault(r["status"], []).append(r)
    assert len(by_status["kept"]) == 6 and len(by_status["duplicate"]) == 1 and len(by_status["skipped"]) == 1
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(r["file"] for r in by_status["kept"])
    json.dumps(records)
