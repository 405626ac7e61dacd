"""MIDI files per second: symusic's multi-track reader against today's music21 parse, on the same files, in one run.

    python -m benchmarks.parsing [--pieces 100] [--bands 20]

Files: `--pieces` pieces of music21's corpus (celtic, chorales, folk, a third each) exported to MIDI as the scrape
stage does, plus `--bands` multi-track songs (jukebox tests' drum band, 16 bars, 3 tracks). Both readers run in
this process, one file after another (no pool, no cache), so the ratio is per core; a last row reads the keep record
as the parse stage does: its time-limited pool of every core (parse_files, no cache; the pool's start counts).
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from jukebox.midi_io import read_tracks, write_tracks
from jukebox.params import load_params
from jukebox.parsing import TrackReading, parse_files, read_piece, read_piece_tracks
from jukebox.sources import export_corpus


def files(folder: Path, pieces: int, bands: int) -> list[Path]:
    """The benchmark's MIDI files, written under `folder`."""
    from tests.conftest import drum_band

    out = []
    for collection in ("oneills1850", "bach", "essenFolksong"):
        records = export_corpus(collection, folder / collection, pieces // 3, seed=7)
        out += [folder / collection / r["file"] for r in records if r["status"] == "kept"]
    for i in range(bands):
        write_tracks(drum_band(16), folder / f"band{i}.mid")
        out.append(folder / f"band{i}.mid")
    return out


def rate(read, paths) -> tuple[float, float]:
    """Files per second reading every path with `read`, and the seconds it took."""
    start = time.perf_counter()
    for path in paths:
        read(path)
    seconds = time.perf_counter() - start
    return len(paths) / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=99)
    parser.add_argument("--bands", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = files(Path(tmp), args.pieces, args.bands)
        read_tracks(paths[0])  # imports outside the clock
        read_piece(paths[0])
        rows = [("symusic read_tracks", rate(read_tracks, paths)),
                ("symusic parse record (keep)", rate(read_piece_tracks, paths)),
                ("music21 parse record (merge, today)", rate(read_piece, paths))]
        cores = os.cpu_count() or 1
        start = time.perf_counter()
        parse_files(paths, cores, timeout=load_params().parse_timeout, reader=TrackReading())
        pooled = time.perf_counter() - start
    print(f"{len(paths)} MIDI files ({args.pieces // 3 * 3} corpus pieces, {args.bands} three-track songs), one core:")
    rows.append((f"keep record, parse stage's pool of {cores}", (len(paths) / pooled, pooled)))
    for name, (per_second, seconds) in rows:
        print(f"  {name:38s} {per_second:9.1f} files/s  ({seconds:.2f} s)")
    print(f"  symusic read_tracks / music21: {rows[0][1][0] / rows[2][1][0]:.0f}x; keep record / music21: "
          f"{rows[1][1][0] / rows[2][1][0]:.0f}x")


if __name__ == "__main__":
    main()
