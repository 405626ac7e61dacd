"""`remi_plus`: every instrument, drums included, in one token stream, by MidiTok's REMI with programs (REMI+).

A piece becomes bars (`Bar_None`), meters (`TimeSig_6/8`), positions in the bar (`Position_12`) and, for each note,
its instrument, pitch, loudness and length: `Program_40 Pitch_62 Velocity_79 Duration_1.0.12`. Drums are program
-1 and their notes `PitchDrum_36` tokens: a drum key is never a pitch, and transposing moves pitches only.

Every token id follows from the settings below, never from the data (jukebox.vocabulary.FixedVocabulary): two
genres with the same settings have the same vocabulary file, byte for byte. What does not fit the grid (a pitch
outside the range, a drum key MidiTok has no token for, a note longer than the longest duration, a meter outside
the table) is counted in `Outside`, never dropped without a word.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from ..bars import Event
from ..midi_io import DEFAULT_BPM, Meter, MultiTrack, from_symusic, symusic_score
from ..vocabulary import FixedVocabulary
from .base import Encoding, Token, events_of, merged_piece, record_piece  # noqa: F401 (record_piece: here before)

NAME = "remi_plus"
DRUM_PROGRAM = -1  # MidiTok's program of the drum kit
END = "EOS_None"  # closes a piece in the stream, as <end> does in the other encodings


@dataclass(frozen=True)
class RemiPlusSettings:
    """What decides the vocabulary: pitch and drum-key ranges, the time grid, loudness steps and the meters."""

    pitch_low: int = 21  # A0 to C8: the piano's range holds every pitched corpus note
    pitch_high: int = 108
    drum_low: int = 27  # MidiTok's General MIDI drum keys (27 high Q to 87 open surdo)
    drum_high: int = 87
    # Positions and durations in twelfths of a quarter hold sixteenths and triplets (as `rhythm`'s grid does);
    # durations of four quarters and more in quarters' fourths: a long note's exact end matters less to the ear.
    positions_per_quarter: int = 12
    long_positions_per_quarter: int = 4
    longest: int = 8  # quarter notes; a longer note is cut to this (counted)
    velocities: int = 8
    drums: bool = True
    meters: tuple[str, ...] = ("1/4", "2/4", "3/4", "4/4", "5/4", "6/4", "7/4", "2/2", "3/2", "4/2",
                               "3/8", "6/8", "9/8", "12/8", "5/8", "7/8")

    def as_dict(self) -> dict:
        """Plain data for the vocabulary file."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "RemiPlusSettings":
        """Settings read back from a vocabulary file's `settings`."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known})


def tokenizer_config(settings: RemiPlusSettings):
    """MidiTok's TokenizerConfig for the settings."""
    from miditok import TokenizerConfig

    signatures: dict[int, list[int]] = {}
    for meter in settings.meters:
        numerator, denominator = (int(x) for x in meter.split("/"))
        signatures.setdefault(denominator, []).append(numerator)
    half = min(4, settings.longest)
    beat_res = {(0, half): settings.positions_per_quarter}
    if settings.longest > half:
        beat_res[(half, settings.longest)] = settings.long_positions_per_quarter
    programs = list(range(128)) + ([DRUM_PROGRAM] if settings.drums else [])
    return TokenizerConfig(
        pitch_range=(settings.pitch_low, settings.pitch_high + 1), drums_pitch_range=(settings.drum_low,
                                                                                       settings.drum_high + 1),
        beat_res=beat_res, num_velocities=settings.velocities, special_tokens=["PAD", "EOS"],
        use_programs=True, one_token_stream_for_programs=True, programs=programs, use_pitchdrum_tokens=True,
        use_time_signatures=True, time_signature_range=signatures, use_tempos=False, use_chords=False,
        use_rests=False, use_sustain_pedals=False, use_pitch_bends=False, program_changes=False)


class Outside(Counter):
    """What a piece had that the grid cannot hold, by kind: reported by the stage, never silently lost."""


class RemiPlus(Encoding):
    """The multi-track encoding: MidiTok's REMI+ over symusic, with a vocabulary fixed by its settings."""

    name = NAME
    has_grammar = True
    multitrack = True
    end = END

    def __init__(self, settings: RemiPlusSettings = RemiPlusSettings()):
        self.settings = settings

    @cached_property
    def tokenizer(self):
        from miditok import REMI

        return REMI(tokenizer_config(self.settings))

    @cached_property
    def vocabulary(self) -> FixedVocabulary:
        """Every token, numbered as MidiTok numbers them: the ids depend on the settings alone."""
        vocab = self.tokenizer.vocab
        tokens = sorted(vocab, key=vocab.get)
        settings = {**self.settings.as_dict(), "miditok": self.tokenizer.config.to_dict(serialize=True)}
        return FixedVocabulary(NAME, settings, tokens)

    def save_tokenizer(self, folder) -> None:
        """MidiTok's own tokenizer.json in `folder`, for tools that read MidiTok's format."""
        self.tokenizer.save(folder)

    # --- pieces of tracks ----------------------------------------------------------------------------------
    def encode_piece(self, piece: MultiTrack) -> tuple[list[str], Outside]:
        """The token stream of a multi-track piece, and what of it fell outside the grid."""
        outside = self.outside(piece)
        kept = piece if self.settings.drums else piece._replace(tracks=[t for t in piece.tracks if not t.is_drum])
        if not any(t.notes for t in kept.tracks):
            return [], outside
        score = symusic_score(kept)
        return list(self.tokenizer.encode(score).tokens), outside

    def outside(self, piece: MultiTrack) -> Outside:
        """Counts by kind of what the grid cannot hold: pitches and drum keys out of range, notes longer than the
        longest duration, meters outside the table, drum notes when drums are off."""
        s = self.settings
        counts = Outside()
        # MidiTok counts a duration in beats of the meter's denominator: in 9/8 the longest note is 8 eighths.
        meters = sorted(piece.meters) or [(0.0, "4/4")]

        def longest(onset: float) -> float:
            ratio = next((m for offset, m in reversed(meters) if offset <= onset), meters[0][1])
            return s.longest * 4 / int(ratio.partition("/")[2])

        for track in piece.tracks:
            for n in track.notes:
                if track.is_drum and not s.drums:
                    counts["drum_notes_without_drums"] += 1
                elif track.is_drum and not s.drum_low <= n.pitch <= s.drum_high:
                    counts["drum_keys_out_of_range"] += 1
                elif not track.is_drum and not s.pitch_low <= n.pitch <= s.pitch_high:
                    counts["pitches_out_of_range"] += 1
                if n.duration > longest(n.onset):
                    counts["durations_cut"] += 1
        counts["meters_outside"] = sum(m not in s.meters for _, m in piece.meters)
        return +counts  # kinds with a count of 0 are left out

    def decode_piece(self, tokens, bpm: float = DEFAULT_BPM, program: int = 0) -> MultiTrack:
        """Tracks (drums as the drum track) from a token stream; tokens outside the vocabulary are skipped. Every
        note names its program, so `program` (rhythm's instrument for notes before any) is not needed."""
        known = well_typed([t for t in tokens if t in self.vocabulary._index])
        if not known:
            return MultiTrack([], [], bpm)
        score = self.tokenizer.decode([self.vocabulary.id(t) for t in known])
        piece = from_symusic(score)
        return piece._replace(bpm=bpm)

    def encode_record(self, record, key_mode):
        return self.encode_piece(record_piece(record, key_mode))

    def continued(self, primer, tokens):
        return continued(primer, tokens)

    # --- composing: the grammar of a note and the instruments a request allows --------------------------------
    def follow(self, tokens):
        """Which token may follow which: a note is its program, then its pitch (a `PitchDrum_` after the drum
        kit's `Program_-1`, a `Pitch_` after any other), velocity and duration, so every composed note names its
        instrument and a drum key is never pitched nor a pitch drummed; between notes anything else may come."""
        kinds = np.array([t.partition("_")[0] for t in tokens])
        program = np.array([int(t.partition("_")[2]) if k == "Program" else -2 for t, k in zip(tokens, kinds)])
        note_part = np.isin(kinds, ("Pitch", "PitchDrum", "Velocity", "Duration"))
        follow = np.repeat(~note_part[None, :], len(tokens), axis=0)  # between notes: no note part
        follow[(kinds == "Program") & (program != DRUM_PROGRAM)] = kinds == "Pitch"
        follow[program == DRUM_PROGRAM] = kinds == "PitchDrum"
        follow[np.isin(kinds, ("Pitch", "PitchDrum"))] = kinds == "Velocity"
        follow[kinds == "Velocity"] = kinds == "Duration"
        known = np.array([t in self.vocabulary._index for t in tokens])
        follow[~known] = True  # anything may follow a token outside the grammar (the unknown token in a primer)
        return follow.astype(np.float32)

    def allowed(self, programs, tokens):
        """1 for each token a piece restricted to `programs` (General MIDI numbers, -1 the drums: what
        jukebox.instruments.programs_of makes of a request's names) may hold, 0 for the other instruments'
        `Program_` tokens; all ones for no restriction."""
        mask = np.ones(len(tokens), np.float32)
        if not programs:
            return mask
        for i, token in enumerate(tokens):
            kind, _, value = token.partition("_")
            if kind == "Program" and int(value) not in programs:
                mask[i] = 0.0
        return mask

    def first_notes(self, tokens, n_notes):
        """The tokens up to the n_notes-th note's pitch and its velocity and duration, which complete it."""
        cut = super().first_notes(tokens, n_notes)
        rest = list(tokens[len(cut):])
        while rest and rest[0].partition("_")[0] in ("Velocity", "Duration"):
            cut.append(rest.pop(0))
        return cut

    # --- the single-stream interface of base.Encoding (merged notes as one piano track) ------------------------
    def _parse(self, token: str) -> Token | None:
        return _parse_remi_plus(token)

    def encode(self, notes, meters=(), key=None) -> list[str]:
        tokens, _ = self.encode_piece(merged_piece(notes, meters))
        return tokens

    def decode(self, tokens, step=0.5) -> list[Event]:
        notes = {(n.onset, n.duration, n.pitch) for t in self.decode_piece(tokens).tracks if not t.is_drum
                 for n in t.notes}
        return events_of(notes)

    def meters(self, tokens) -> list[Meter]:
        return self.decode_piece(tokens).meters

    def is_note(self, token: str) -> bool:
        parsed = self.parse(token)
        return parsed is not None and parsed.kind in ("note", "drum")

    def _pitched(self, parsed, pitches) -> str:
        return f"Pitch_{pitches[0]}"

    def transpose(self, token: str, semitones: int) -> str | None:
        """A pitch moved by semitones (None out of the settings' range); drum keys and everything else stay."""
        moved = super().transpose(token, semitones)
        if moved is not None and moved.startswith("Pitch_") and moved not in self.vocabulary._index:
            return None
        return moved


def continued(primer: list[str], tokens: list[str]) -> list[str]:
    """A composed piece's tokens, opened by its primer's last `Program_` token when the piece begins inside a note
    the primer started (a `Pitch_` first): decoded alone, that note would fall to MidiTok's default piano."""
    first = next((t.partition("_")[0] for t in tokens if t.partition("_")[0] in
                  ("Program", "Pitch", "PitchDrum", "Velocity", "Duration")), "Program")
    program = next((t for t in reversed(primer) if t.startswith("Program_")), None)
    return tokens if first == "Program" or program is None else [program, *tokens]


def well_typed(tokens: list[str]) -> list[str]:
    """Tokens without the notes whose pitch does not fit their instrument: a `Pitch_` after `Program_-1` (a drum
    kit has keys, not pitches) or a `PitchDrum_` after a pitched program, each with its velocity and duration.

    MidiTok would place such a note on the track of the program before it: a pitched note on channel 10."""
    out, program, skipping = [], None, False
    for token in tokens:
        kind = token.partition("_")[0]
        if kind == "Program":
            program, skipping = int(token.partition("_")[2]), False
        elif kind in ("Pitch", "PitchDrum"):
            skipping = (kind == "Pitch") == (program == DRUM_PROGRAM)
        elif kind not in ("Velocity", "Duration"):
            skipping = False
        if not skipping:
            out.append(token)
    return out


@lru_cache(maxsize=None)
def _parse_remi_plus(token: str) -> Token | None:
    kind, _, value = token.partition("_")
    try:
        if kind == "Pitch":
            return Token("note", (int(value),))
        if kind == "PitchDrum":
            return Token("drum", (), text=value)
    except ValueError:
        return None
    known = {"Bar": "bar", "Position": "position", "Program": "program", "Velocity": "velocity",
             "Duration": "duration", "TimeSig": "meter", "PAD": "pad", "EOS": "end"}
    return Token(known[kind], (), text=value) if kind in known else None
