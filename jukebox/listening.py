"""The listening test: excerpt pairs (a held-out real piece and a model's sample, cut and rendered alike) and the
report of what listeners answered.

Pure functions: the listen stage (stages/listen.py) cuts and levels the excerpts, the web app (jukebox/web/listening.py)
serves them and stores answers (jukebox/votes.py), and the report here turns answers into the figures people compare.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .bars import Event, bar_lines
from .midi_io import Meter

ANSWERS = ("left", "right", "unsure")  # which excerpt the listener took for the model's; unsure = "can't tell"
# Seconds of silence after an excerpt's last bar, for the last notes' release (FluidSynth's tails last ~0.5 s).
TAIL_S = 1.0
FADE_S = 0.3  # a short fade at the very end, so a cut tail never clicks
# Both excerpts of a pair are set to this loudness (RMS of the whole excerpt, dB below full scale), or lower when a
# peak would clip; the level then tells a listener nothing.
TARGET_DBFS = -20.0
PEAK = 0.98
# A session with at least this many decided answers, all on one side, is flagged in the report: with random order,
# always "left" is what someone clicking through without listening does.
ONE_SIDED_MIN = 5


@dataclass(frozen=True)
class Excerpt:
    """Bars cut from a piece: its events from 0, its length in quarter notes, its meter and where it came from."""

    events: list[Event]
    quarters: float
    meter: str
    origin: str


Window = tuple[float, float, str]  # start and length in quarter notes, the meter at the start


def cut(events: Sequence[Event], start: float, quarters: float) -> list[Event]:
    """The events sounding from `start` for `quarters` quarter notes, moved to begin at 0 and clipped at the end."""
    end = start + quarters
    return [(round(on - start, 4), round(min(dur, end - on), 4), pitches)
            for on, dur, pitches in events if start <= on < end]


def bar_starts(events: Sequence[Event], meters: Sequence[Meter], bars: int) -> list[Window]:
    """Every window of `bars` whole bars inside the music with a note in its first and its last bar."""
    if not events:
        return []
    end = max(on + dur for on, dur, _ in events)
    lines = [(float(start), meter) for start, meter in bar_lines(meters, end)]
    onsets = np.array(sorted(on for on, _, _ in events))
    found = []
    for i in range(len(lines) - bars):
        (start, meter), stop = lines[i], lines[i + bars][0]
        if stop > end + 1e-6:
            break
        first = np.any((onsets >= start) & (onsets < lines[i + 1][0]))
        last = np.any((onsets >= lines[i + bars - 1][0]) & (onsets < stop))
        if first and last:
            found.append((start, stop - start, meter))
    return found


def _free(window: Window, taken: Sequence[Window]) -> bool:
    start, quarters, _ = window
    return all(start + quarters <= s or s + q <= start for s, q, _ in taken)


def real_excerpts(pieces: Sequence[tuple[str, list[Event], list[Meter]]], bars: int, count: int,
                  rng: np.random.Generator) -> list[Excerpt]:
    """Up to `count` excerpts of `bars` bars from real pieces `(name, events, meters)`: each piece's first window,
    then each one's second, and so on; a piece's windows never overlap, so no excerpt is heard twice."""
    per_piece = []
    for name, events, meters in pieces:
        windows: list[Window] = []
        candidates = bar_starts(events, meters, bars)
        for k in rng.permutation(len(candidates)):
            if _free(candidates[k], windows):
                windows.append(candidates[k])
        per_piece.append([(name, events, w) for w in windows])
    found: list[Excerpt] = []
    for rank in range(max((len(w) for w in per_piece), default=0)):
        for windows in per_piece:
            if rank < len(windows) and len(found) < count:
                name, events, (start, quarters, meter) = windows[rank]
                found.append(Excerpt(cut(events, start, quarters), quarters, meter,
                                     f"{name}, from quarter note {start:g}"))
    return found


def matching_excerpts(real: Sequence[Excerpt], samples: Sequence[tuple[str, list[Event], list[Meter]]],
                      bars: int, rng: np.random.Generator) -> list[tuple[Excerpt, Excerpt]]:
    """Pair each real excerpt with a sample's excerpt of as many quarter notes (so seconds), cut on a bar line.

    A sample's bar lines are its own meters' (remi); a sample without meters (rhythm, pitch) is read in the real
    excerpt's meter from its first note, the only bar line it has. Samples take turns; a real excerpt that no
    sample has room for is dropped.
    """
    used: list[list[Window]] = [[] for _ in samples]
    order = [int(i) for i in rng.permutation(len(samples))]
    pairs, turn = [], 0
    for excerpt in real:
        for k in range(len(order)):
            i = order[(turn + k) % len(order)]
            name, events, meters = samples[i]
            windows = [w for w in bar_starts(events, meters or [(0.0, excerpt.meter)], bars)
                       if abs(w[1] - excerpt.quarters) < 1e-6 and _free(w, used[i])]
            if windows:
                start, quarters, meter = windows[int(rng.integers(len(windows)))]
                used[i].append((start, quarters, meter))
                pairs.append((excerpt, Excerpt(cut(events, start, quarters), quarters, meter,
                                               f"{name}, from quarter note {start:g}")))
                turn = (turn + k + 1) % len(order)
                break
    return pairs


def fit_length(audio: np.ndarray, sample_rate: int, seconds: float) -> np.ndarray:
    """Audio (frames, channels) cut or padded with silence to `seconds` + TAIL_S, fading out over the last FADE_S."""
    frames = int(round((seconds + TAIL_S) * sample_rate))
    out = np.zeros((frames, audio.shape[1]), dtype=np.float64)
    out[: min(frames, len(audio))] = audio[:frames]
    fade = int(FADE_S * sample_rate)
    out[-fade:] *= np.linspace(1.0, 0.0, fade)[:, None]
    return out


def rms_db(audio: np.ndarray) -> float:
    """Loudness as the RMS of every sample, in dB below full scale (-inf for silence)."""
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


def level_pair(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both excerpts scaled to one RMS loudness: TARGET_DBFS, or lower so that neither peak passes PEAK."""
    levels = [rms_db(a) for a in (first, second)]
    if not all(math.isfinite(v) for v in levels):
        raise ValueError("an excerpt is silent; it cannot be levelled (the excerpt cutter keeps notes in each)")
    headroom = [20 * math.log10(PEAK / float(np.max(np.abs(a)))) + v for a, v in zip((first, second), levels)]
    target = min(TARGET_DBFS, *headroom)
    return tuple(a * 10 ** ((target - v) / 20) for a, v in zip((first, second), levels))  # type: ignore[return-value]


# The report.

def interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a binomial share; (0, 1) without trials."""
    if trials == 0:
        return 0.0, 1.0
    from scipy.stats import binomtest

    ci = binomtest(successes, trials).proportion_ci(confidence, method="exact")
    return float(ci.low), float(ci.high)


def _mean(values: Iterable[int | None]) -> float | None:
    given = [v for v in values if v is not None]
    return round(sum(given) / len(given), 2) if given else None


def report(answers: Sequence[dict]) -> list[dict]:
    """Figures per (genre, model version) from answer rows (votes.VoteStore.answers).

    `fooled` is the share of decided answers (left or right) that named the real excerpt as the model's, i.e. took
    the sample for the real piece: 0 = always told apart, 0.5 = cannot tell. "Can't tell" answers are counted
    apart (`unsure`), not in the share, so a listener's doubt neither helps nor hurts the model.
    """
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in answers:
        groups.setdefault((row["genre"], row["model_version"]), []).append(row)
    figures = []
    for (genre, version), rows in sorted(groups.items()):
        decided = [r for r in rows if r["answer"] != "unsure"]
        fooled = sum(r["answer"] == r["real_side"] for r in decided)
        low, high = interval(fooled, len(decided))
        sides: dict[str, list[str]] = {}
        for r in decided:
            sides.setdefault(r["session"], []).append(r["answer"])
        one_sided = {s: a for s, a in sides.items() if len(a) >= ONE_SIDED_MIN and len(set(a)) == 1}
        real = [r["rating_left"] if r["real_side"] == "left" else r["rating_right"] for r in rows]
        generated = [r["rating_right"] if r["real_side"] == "left" else r["rating_left"] for r in rows]
        figures.append({
            "genre": genre, "model_version": version, "answers": len(rows), "decided": len(decided),
            "unsure": len(rows) - len(decided), "fooled": round(fooled / len(decided), 3) if decided else None,
            "fooled_low": round(low, 3), "fooled_high": round(high, 3),
            "rating_real": _mean(real), "rating_generated": _mean(generated),
            "sessions": len({r["session"] for r in rows}), "one_sided_sessions": len(one_sided),
            "one_sided_answers": sum(len(a) for a in one_sided.values()),
        })
    return figures
