"""benchmarks/instruments.py on a small drum collection: the three encodings of one record set, side by side."""
import json

from benchmarks.instruments import main, notes_of, streams
from jukebox.midi_io import write_tracks
from jukebox.parsing import read_piece_tracks
from tests.test_instruments import band_piece


def test_the_same_records_are_encoded_three_ways_and_each_is_scored_per_note(tmp_path, capsys):
    raw = tmp_path / "data/raw/band"
    raw.mkdir(parents=True)
    for i in range(10):
        write_tracks(band_piece(i), raw / f"song_{i}.mid")
    record = read_piece_tracks(raw / "song_0.mid")
    merged, kept = streams([record], "rhythm", False)[0], streams([record], "rhythm", True)[0]
    # Merged: no instrument and no drum; kept: the bass's and the flute's programs and every hit.
    assert not any(t.startswith(("Program_", "Drum_")) for t in merged)
    assert {t for t in kept if t.startswith("Program_")} == {"Program_33", "Program_73"}
    drums = sum(len(t["notes"]) for t in record["tracks"] if t["is_drum"])
    assert sum(t.startswith("Drum_") for t in kept) == drums == notes_of(record, True) - notes_of(record, False)

    main(["--raw-from", str(tmp_path), "--genres", "band", "--pieces", "10", "--epochs", "1",
          "--windows-per-epoch", "16", "--seq-len", "24", "--json", str(tmp_path / "out.json")])
    row = json.loads((tmp_path / "out.json").read_text())["genres"]["band"]
    assert row["pieces"] == 10 and row["tracks_per_piece"] == 3
    for variant in ("rhythm_merged", "rhythm_keep", "remi_plus_keep"):
        assert row[variant]["cross_entropy_per_note"] > 0 and row[variant]["val_notes"] > 0
    assert row["rhythm_keep"]["val_notes"] > row["rhythm_merged"]["val_notes"]  # the hits count as notes
    assert row["rhythm_keep_minus_merged"] == round(row["rhythm_keep"]["cross_entropy_per_note"]
                                                    - row["rhythm_merged"]["cross_entropy_per_note"], 4)
    assert "per note, against rhythm merged" in capsys.readouterr().out
    main(["--raw-from", str(tmp_path), "--genres", "band", "--pieces", "4", "--epochs", "1", "--windows-per-epoch",
          "16", "--seq-len", "24", "--variants", "rhythm_keep", "--json", str(tmp_path / "two.json")])
    row = json.loads((tmp_path / "two.json").read_text())["genres"]["band"]
    assert {"rhythm_merged", "rhythm_keep"} <= set(row) and "remi_plus_keep" not in row
