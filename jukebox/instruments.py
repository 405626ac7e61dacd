"""Instruments by name: General MIDI's families (piano, bass, strings, ..., drums), as a request names them, and
what a multi-track piece's instruments are measured by (instrument sets, shares of notes, drum patterns, ranges).

A family is eight GM programs (piano 0-7, bass 32-39, strings 40-47, ...); drums are the kit on channel 10,
program -1 in MidiTok's numbering. `jukebox generate --instruments piano,bass,drums` and the Generate page's
checkboxes name families (or single programs, `program 33`), and the composing grammar bans the others.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

DRUM_PROGRAM = -1  # MidiTok's program of the drum kit
DRUMS = "drums"
FAMILIES = ("piano", "chromatic percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass", "reed",
            "pipe", "synth lead", "synth pad", "synth effects", "ethnic", "percussive", "sound effects")
# The drum keys whose onsets evaluate compares, by how a drummer names them (General MIDI numbers).
DRUM_KEYS = {"kick": (35, 36), "snare": (38, 40), "hi-hat": (42, 44, 46)}
# Positions in the bar of the drum onset histogram: sixteenths of a 4/4 bar (the grid dance drums are written on).
DRUM_POSITIONS = 16



def family(program: int) -> str:
    """The family name of a GM program, `drums` for the kit."""
    return DRUMS if program == DRUM_PROGRAM else FAMILIES[program // 8]


def programs_of(names: Iterable[str]) -> frozenset[int]:
    """The programs a request names: families (`piano`, `bass`, `drums`) or programs (`program 33`, `33`).

    Raises ValueError naming the unknown name and the known ones."""
    programs: set[int] = set()
    for raw in names:
        name = raw.strip().lower()
        number = name.removeprefix("program").strip()
        if number.lstrip("-").isdigit() and -1 <= int(number) <= 127:
            programs.add(int(number))
        elif name == DRUMS:
            programs.add(DRUM_PROGRAM)
        elif name in FAMILIES:
            start = FAMILIES.index(name) * 8
            programs.update(range(start, start + 8))
        else:
            raise ValueError(f"unknown instrument {raw!r}: name General MIDI families ({', '.join(FAMILIES)}, "
                             f"{DRUMS}) or programs (0-127, e.g. 'program 33')")
    return frozenset(programs)


def parse_instruments(text: str | None) -> tuple[str, ...]:
    """A comma-separated request (`piano,bass,drums`) as names, checked (programs_of); empty for none."""
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    programs_of(names)
    return names


# --- measuring a piece's instruments (evaluate) --------------------------------------------------------------
def note_shares(pieces: Sequence) -> dict[str, float]:
    """Each instrument's share of all notes of multi-track pieces (`drums`, `program 40`)."""
    counts = Counter()
    for piece in pieces:
        for track in piece.tracks:
            counts[_name(track)] += len(track.notes)
    total = sum(counts.values()) or 1
    return {name: round(c / total, 4) for name, c in sorted(counts.items())}


def _name(track) -> str:
    return DRUMS if track.is_drum else f"program {track.program}"


def instrument_set_overlap(generated: Sequence, held_out: Sequence) -> float | None:
    """Mean over samples of the best Jaccard overlap of its instrument set with a held-out piece's (1: a sample
    plays exactly the instruments some real piece plays); None without samples or held-out pieces."""
    real = [{_name(t) for t in p.tracks if t.notes} for p in held_out]
    real = [s for s in real if s]
    if not generated or not real:
        return None
    scores = []
    for piece in generated:
        mine = {_name(t) for t in piece.tracks if t.notes}
        scores.append(max(len(mine & r) / len(mine | r) for r in real) if mine else 0.0)
    return round(float(np.mean(scores)), 4)


def drum_onsets(pieces: Sequence, keys: Sequence[int]) -> np.ndarray:
    """Share of the drum hits on `keys` at each sixteenth of the bar (DRUM_POSITIONS), by each piece's meters."""
    from .bars import bar_length, bar_lines

    counts = np.zeros(DRUM_POSITIONS)
    for piece in pieces:
        hits = [n.onset for t in piece.tracks if t.is_drum for n in t.notes if n.pitch in keys]
        if not hits:
            continue
        bars = [(float(start), float(bar_length(meter))) for start, meter in bar_lines(piece.meters, max(hits))]
        for onset in hits:
            start, length = next((b for b in reversed(bars) if b[0] <= onset), bars[0])
            counts[min(DRUM_POSITIONS - 1, int((onset - start) / length * DRUM_POSITIONS))] += 1
    return counts / counts.sum() if counts.sum() else counts


def histogram_overlap(a: np.ndarray, b: np.ndarray) -> float | None:
    """The shared mass of two histograms (sum of minima): 1 for the same shape, 0 for disjoint; None if one is empty."""
    if not a.sum() or not b.sum():
        return None
    return round(float(np.minimum(a / a.sum(), b / b.sum()).sum()), 4)


def pitch_range(pieces: Sequence, name: str) -> tuple[float, float] | None:
    """The 5th to 95th percentile of the pitches an instrument plays over pieces: its range, without strays."""
    pitches = [n.pitch for p in pieces for t in p.tracks if _name(t) == name for n in t.notes]
    if not pitches:
        return None
    low, high = np.percentile(pitches, [5, 95])
    return float(low), float(high)


def range_overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> float | None:
    """Overlap of two pitch ranges, in semitones, over the span of both (1: the same range); ranges are widened by
    half a semitone each side, so that a one-note range has a width."""
    if a is None or b is None:
        return None
    (a0, a1), (b0, b1) = (a[0] - 0.5, a[1] + 0.5), (b[0] - 0.5, b[1] + 0.5)
    return round(max(0.0, min(a1, b1) - max(a0, b0)) / (max(a1, b1) - min(a0, b0)), 4)


def instrument_statistics(generated: Sequence, held_out: Sequence, samples: Sequence | None = None) -> dict:
    """What evaluate reports of multi-track samples against held-out pieces: instrument-set overlap, each
    instrument's share of notes, the drum onset-position-in-bar overlap per drum (kick, snare, hi-hat), and each
    pitched instrument's (voice's) range overlap with its real counterpart, with how many samples play them all.

    `generated` are the composed pieces as judged (a sample that ends a piece and begins another is two);
    `samples` the samples whole, for the share that plays the instruments most real pieces play (a chorale's four
    voices), which a short piece begun at a sample's end would understate."""
    real_names = sorted({_name(t) for p in held_out for t in p.tracks if not t.is_drum and t.notes})
    played = Counter(name for p in held_out for name in {_name(t) for t in p.tracks if t.notes})
    regular = sorted(name for name, count in played.items() if count >= len(held_out) / 2)
    ranges = {name: range_overlap(pitch_range(generated, name), pitch_range(held_out, name)) for name in real_names}
    drums = {drum: histogram_overlap(drum_onsets(generated, keys), drum_onsets(held_out, keys))
             for drum, keys in DRUM_KEYS.items()}
    voices = [sum(1 for t in p.tracks if not t.is_drum and t.notes) for p in generated]
    return {
        "instrument_set_overlap": instrument_set_overlap(generated, held_out),
        "note_shares": {"generated": note_shares(generated), "held_out": note_shares(held_out)},
        "drum_onset_overlap": drums,
        "range_overlap": ranges,
        "pitched_tracks_per_sample": {"min": min(voices, default=0), "max": max(voices, default=0)},
        "samples_with_every_instrument": round(float(np.mean(
            [set(real_names) <= {_name(t) for t in p.tracks if t.notes} for p in generated])) if generated else 0.0,
            4),
        "regular_instruments": regular,
        "samples_with_regular_instruments": round(float(np.mean(
            [set(regular) <= {_name(t) for t in p.tracks if t.notes} for p in (samples or generated)]))
            if (samples or generated) else 0.0, 4),
    }


def family_shares(piece) -> np.ndarray:
    """Share of a piece's notes per family (FAMILIES, then drums): the realness classifier's instrument features."""
    counts = np.zeros(len(FAMILIES) + 1)
    for track in piece.tracks:
        counts[len(FAMILIES) if track.is_drum else track.program // 8] += len(track.notes)
    return counts / counts.sum() if counts.sum() else counts


def summary_families(summary: dict) -> list[str]:
    """The families of a parse summary's `instruments` (`drums`, `program 40`), most notes first."""
    counts: Counter = Counter()
    for name, notes in summary.get("instruments", {}).items():
        counts[DRUMS if name == DRUMS else family(int(name.removeprefix("program ")))] += notes
    return [name for name, _ in counts.most_common()]
