"""Hearing and seeing a sample: FLAC audio through FluidSynth, a piano-roll .png, a MusicXML score, and the
listening page.

The generate stage, the `jukebox` command and the web app all call render_sample and the same Jinja templates
(jukebox/templates/: `listening.html` is the page, `_sample.html` the macro `sample_card` for one sample).
"""
from __future__ import annotations

import logging
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from .artifacts import atomic_path, write_text
from .bars import bar_lines
from .encodings.pitch import pitch_token
from .midi_io import Meter, Note, played_meters, played_notes

log = logging.getLogger(__name__)

# Where Debian (fluid-soundfont-gm), Ubuntu and Homebrew-style installs put a General MIDI SoundFont.
SOUNDFONTS = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
)
SAMPLE_RATE = 44100
# FluidSynth's default gain (0.2) is quiet next to other music; 0.5 stays clear of clipping on four-voice chords.
GAIN = 0.5
# FLAC: lossless at a third of a WAV's size, played by every current browser, and as cheap for FluidSynth to write
# as WAV. Ogg Vorbis would be a third of FLAC's size, but encoding it takes FluidSynth 2.5 times as long as
# synthesizing (4.6 s against 1.8 s for a 500-note piece on a busy 2-core machine), which every listener would wait.
# The type is named (-T) rather than left to the extension, which the atomic writer's temporary name does not keep.
AUDIO_TYPES = {".flac": "flac", ".ogg": "oga", ".wav": "wav"}
# Written after the web app has answered (render_later) rather than with each sample: a 500-note piece's score
# takes music21 8 s on a busy 2-core machine, its audio FluidSynth 2 s and its piano roll 0.2 s under the GIL that
# twenty answers share. The app starts the audio at once; the piano roll and score wait to be asked for.
LATER = (".png", ".flac", ".musicxml")
AUDIO_SETUP = "install the Debian packages fluidsynth and fluid-soundfont-gm (scripts/setup does)"


@lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    log.warning(message)


def audio_tools(soundfont: str | Path | None = None) -> tuple[str, Path] | None:
    """The fluidsynth program and a SoundFont to render with, or None (warned once) when either is missing."""
    program = shutil.which("fluidsynth")
    if soundfont is not None:
        found = Path(soundfont) if Path(soundfont).is_file() else None
        missing = f"SoundFont {soundfont} does not exist"
    else:
        found = next((Path(p) for p in SOUNDFONTS if Path(p).is_file()), None)
        missing = f"no General MIDI SoundFont in {', '.join(SOUNDFONTS)}"
    if program is None or found is None:
        reason = "the fluidsynth program is not on PATH" if program is None else missing
        _warn_once(f"no audio files: {reason}; {AUDIO_SETUP}. MIDI, piano roll and score are written all the same")
        return None
    return program, found


def write_audio(midi_path: str | Path, audio_path: str | Path, fluidsynth: str, soundfont: Path) -> None:
    """Render a MIDI file with FluidSynth to the audio type its path's suffix names (.flac, .ogg, .wav), atomically."""
    audio_path = Path(audio_path)
    if audio_path.suffix not in AUDIO_TYPES:
        raise ValueError(f"{audio_path}: audio is written as {', '.join(AUDIO_TYPES)}, not {audio_path.suffix!r}")
    with atomic_path(audio_path, suffix=audio_path.suffix) as tmp:
        # At a lower priority (nice): under load, composing and answering come before the audio of earlier answers.
        nice = ["nice", "-n", "10"] if shutil.which("nice") else []
        result = subprocess.run(
            [*nice, fluidsynth, "-ni", "-q", "-g", str(GAIN), "-r", str(SAMPLE_RATE), "-T", AUDIO_TYPES[audio_path.suffix],
             "-F", str(tmp), str(soundfont), str(midi_path)],
            capture_output=True, text=True, timeout=600,
        )
        if result.returncode != 0 or not tmp.stat().st_size:
            raise RuntimeError(f"fluidsynth could not render {midi_path} (exit {result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()[-500:]}")


def write_piano_roll(notes: Sequence[Note], path: str | Path, title: str = "", meters: Sequence[Meter] = ()) -> None:
    """A piano-roll .png of notes `(onset, duration, pitch)`: time in quarter notes across, pitch up, bar lines
    from the meters (4/4 when there are none, as MIDI assumes)."""
    import io

    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    from .artifacts import write_bytes

    # A Figure without pyplot: no global state and no GUI backend, safe in stages, tests and the web app.
    fig = Figure(figsize=(12, 3.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    if notes:
        onsets, durations, pitches = zip(*notes)
        # One PolyCollection, not barh's Rectangle a note: a 500-note roll draws in 0.3 s instead of 2.
        boxes = [((o, p - 0.4), (o + d, p - 0.4), (o + d, p + 0.4), (o, p + 0.4)) for o, d, p in notes]
        ax.add_collection(PolyCollection(boxes, facecolors="#3465a4", edgecolors="#1f3b63", linewidths=0.3))
        low, high = min(pitches), max(pitches)
        ax.set_ylim(low - 1.5, high + 1.5)
        end = max(o + d for o, d in zip(onsets, durations))
        ax.set_xlim(0, end)
        for start, _ in bar_lines(meters, end)[1:]:
            ax.axvline(float(start), color="#888888", linewidth=0.6, zorder=0)
        ticks = sorted({low, high, *(p for p in range(low, high + 1) if p % 12 == 0)})  # the range and every C
        ax.set_yticks(ticks, [pitch_token((p,)) for p in ticks])
    ax.set_xlabel("quarter notes")
    ax.grid(axis="x", color="#dddddd", linewidth=0.5)
    ax.set_title(title, fontsize=10, loc="left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_bytes(path, buffer.getvalue())


# Colours of the instruments of a multi-track roll, in track order (matplotlib's tab10, readable on white).
TRACK_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
                 "#17becf")
DRUM_COLOUR = "#a50026"  # the drum hits: a dark red no pitched instrument gets
DRUM_NAMES = {35: "kick", 36: "kick", 37: "side stick", 38: "snare", 39: "clap", 40: "snare", 41: "low tom",
              42: "closed hi-hat", 43: "tom", 44: "pedal hi-hat", 45: "tom", 46: "open hi-hat", 47: "tom",
              48: "tom", 49: "crash", 50: "high tom", 51: "ride", 53: "ride bell", 54: "tambourine", 56: "cowbell",
              57: "crash"}


def track_label(track) -> str:
    """How the legend and the listening page name a track: `drums`, or its General MIDI instrument."""
    return "drums" if track.is_drum else instrument_name(track.program)


def write_track_roll(piece, path: str | Path, title: str = "") -> None:
    """A piano-roll .png of a multi-track piece: each pitched instrument in its own colour with a legend, and the
    drums below as hits (a mark at each onset) on one row per drum key, named."""
    import io

    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    from .artifacts import write_bytes

    pitched = [t for t in piece.tracks if not t.is_drum and t.notes]
    drums = [n for t in piece.tracks if t.is_drum for n in t.notes]
    fig = Figure(figsize=(12, 4.8 if drums else 3.6), dpi=100, layout="constrained")
    axes = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.3)) if drums else [fig.add_subplot()]
    ax = axes[0]
    end = max((n.onset + n.duration for t in piece.tracks for n in t.notes), default=1.0)
    for i, track in enumerate(pitched):
        colour = TRACK_COLOURS[i % len(TRACK_COLOURS)]
        boxes = [((n.onset, n.pitch - 0.4), (n.onset + n.duration, n.pitch - 0.4), (n.onset + n.duration, n.pitch + 0.4),
                  (n.onset, n.pitch + 0.4)) for n in track.notes]
        ax.add_collection(PolyCollection(boxes, facecolors=colour, edgecolors=colour, linewidths=0.3,
                                         label=track_label(track)))
    if pitched:
        pitches = [n.pitch for t in pitched for n in t.notes]
        low, high = min(pitches), max(pitches)
        ax.set_ylim(low - 1.5, high + 1.5)
        ticks = sorted({low, high, *(p for p in range(low, high + 1) if p % 12 == 0)})
        ax.set_yticks(ticks, [pitch_token((p,)) for p in ticks])
    if drums:
        keys = sorted({n.pitch for n in drums})
        row = {k: i for i, k in enumerate(keys)}
        axes[1].scatter([n.onset for n in drums], [row[n.pitch] for n in drums], marker="|", s=60, linewidths=1.6,
                        color=DRUM_COLOUR, label="drums")
        axes[1].set_yticks(range(len(keys)), [f"{DRUM_NAMES.get(k, 'drum')} {k}" for k in keys], fontsize=7)
        axes[1].set_ylim(-0.7, len(keys) - 0.3)
    for axis in axes:
        axis.set_xlim(-0.02 * end, end)  # a hit on the first beat stays clear of the frame
        for start, _ in bar_lines(piece.meters, end)[1:]:
            axis.axvline(float(start), color="#888888", linewidth=0.6, zorder=0)
        axis.grid(axis="x", color="#dddddd", linewidth=0.5)
    handles = [h for axis in axes for h in axis.get_legend_handles_labels()[0]]
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=8)
    axes[-1].set_xlabel("quarter notes")
    ax.set_title(title, fontsize=10, loc="left")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    write_bytes(path, buffer.getvalue())


def is_multitrack(midi_path: str | Path) -> bool:
    """Whether a MIDI file holds several instruments or drums (read_tracks): its roll and score show each one."""
    from .midi_io import read_tracks

    tracks = read_tracks(midi_path).tracks
    return len(tracks) > 1 or any(t.is_drum for t in tracks)


def write_musicxml(midi_path: str | Path, path: str | Path, title: str = "") -> None:
    """A MusicXML score of a MIDI file (measures, ties and voices made by music21), for MuseScore and friends."""
    from music21 import converter, metadata

    score = converter.parse(str(midi_path), format="midi", forceSource=True)
    _percussion_staves(score)
    score.metadata = metadata.Metadata(title=title or Path(midi_path).stem)
    # music21 names parts and instruments by random ids and stamps today's date: fixed names and no date, so that
    # the same MIDI file always gives the same score (and DVC the same hash).
    for number, part in enumerate(score.parts, 1):
        part.id = f"P{number}"
        for i, instrument in enumerate(part.recurse().getElementsByClass("Instrument"), 1):
            instrument.partId, instrument.instrumentId = f"P{number}", f"P{number}-I{i}"
    with atomic_path(path, suffix=".musicxml") as tmp:
        score.write("musicxml", fp=str(tmp))
        text = Path(tmp).read_text(encoding="utf-8")
        Path(tmp).write_text(re.sub(r"\s*<encoding-date>[^<]*</encoding-date>", "", text, count=1), encoding="utf-8")


def _percussion_staves(score) -> None:
    """Give a part of unpitched hits (music21 reads channel 10 as them) a percussion clef: a drum staff."""
    from music21 import clef, note

    for part in score.parts:
        if any(isinstance(n, (note.Unpitched,)) or type(n).__name__ == "PercussionChord" for n in part.recurse().notes):
            for old in list(part.recurse().getElementsByClass(clef.Clef)):
                old.activeSite.replace(old, clef.PercussionClef())
            if not part.recurse().getElementsByClass(clef.PercussionClef):
                part.insert(0, clef.PercussionClef())


def instrument_name(program: int) -> str:
    """The General MIDI name of a program number (music21's spelling)."""
    from music21 import instrument

    return instrument.instrumentFromMidiProgram(program).instrumentName or f"program {program}"


def render_sample(midi_path: str | Path, program: int, bpm: float, soundfont: str | Path | None = None,
                  later: bool = False, tracks: bool = False) -> dict:
    """Write the .flac (when FluidSynth and a SoundFont are here), .png and .musicxml beside a sample's MIDI file;
    with `later`, they are only named, for render_later to write (LATER).

    Returns what the listening page shows: file names (relative to the MIDI file's folder; `flac` is None without
    audio), the instrument, the tempo and the length in seconds. With `tracks` (a multi-track file, each track on
    its own program), `instrument` names every track's instrument and `instruments` lists them.
    """
    from concurrent.futures import ThreadPoolExecutor

    midi_path = Path(midi_path)
    notes = played_notes(midi_path)
    stem = midi_path.with_suffix("")
    tools = audio_tools(soundfont)
    files = {"midi": midi_path.name, "flac": f"{stem.name}.flac" if tools else None, "png": f"{stem.name}.png",
             "musicxml": f"{stem.name}.musicxml"}
    if not later:
        # FluidSynth runs in its own process while Python draws the piano roll and writes the score.
        with ThreadPoolExecutor(max_workers=1) as pool:
            audio = pool.submit(write_audio, midi_path, stem.with_suffix(".flac"), *tools) if tools else None
            render_later(midi_path, ".png", program, bpm)
            write_musicxml(midi_path, stem.with_suffix(".musicxml"), stem.name)
            if audio:
                audio.result()
    quarters = max((o + d for o, d, _ in notes), default=0.0)
    record = {"files": files, "instrument": instrument_name(program), "program": program, "bpm": bpm,
              "seconds": round(quarters * 60 / bpm, 1)}
    if tracks:
        from .midi_io import read_tracks

        piece = read_tracks(midi_path)
        names = list(dict.fromkeys(track_label(t) for t in piece.tracks))
        quarters = max((n.onset + n.duration for t in piece.tracks for n in t.notes), default=0.0)
        record.update(instrument=", ".join(names) or "none", instruments=names, seconds=round(quarters * 60 / bpm, 1))
    return record


def render_later(midi_path: str | Path, suffix: str, program: int = 0, bpm: float = 120.0,
                 soundfont: str | Path | None = None) -> Path:
    """Write the file with `suffix` (one of LATER) that render_sample(later=True) named beside a MIDI file;
    the piano roll's title names the instrument (General MIDI `program`) and tempo."""
    midi_path = Path(midi_path)
    path = midi_path.with_suffix(suffix)
    if suffix not in LATER:
        raise ValueError(f"{path}: only {', '.join(LATER)} is written later")
    if suffix == ".png" and is_multitrack(midi_path):
        from .midi_io import read_tracks

        piece = read_tracks(midi_path)
        meter = " → ".join(dict.fromkeys(m for _, m in piece.meters))
        write_track_roll(piece, path, f"{midi_path.stem} · {piece.bpm:g} bpm · {meter}")
    elif suffix == ".png":
        meters = played_meters(midi_path)
        meter = " → ".join(dict.fromkeys(m for _, m in meters))
        write_piano_roll(played_notes(midi_path), path,
                         f"{midi_path.stem} · {instrument_name(program)} · {bpm:g} bpm · {meter}", meters)
    elif suffix == ".musicxml":
        write_musicxml(midi_path, path, midi_path.stem)
    else:
        tools = audio_tools(soundfont)
        if tools is None:
            raise FileNotFoundError(f"{path}: no audio can be written here; {AUDIO_SETUP}")
        write_audio(midi_path, path, *tools)
    return path


def _environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(loader=PackageLoader("jukebox", "templates"), autoescape=select_autoescape(),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def listening_page(genre: str, samples: Sequence[dict], base_url: str = "") -> str:
    """The HTML of a genre's listening page; file links are `base_url` + the sample's file names."""
    return _environment().get_template("listening.html").render(genre=genre, samples=samples, base_url=base_url)


def write_listening_page(genre: str, samples: Sequence[dict], out_dir: str | Path) -> Path:
    """Write out_dir/index.html, a page that plays, shows and describes every sample beside it."""
    path = Path(out_dir) / "index.html"
    write_text(path, listening_page(genre, samples))
    return path
