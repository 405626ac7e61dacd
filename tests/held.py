"""Readers that hold a marked MIDI file until the test lets it go: slow work that is slow on every machine.

A test that needs a read still under way (a primer past primer_timeout, a file parsing when Ctrl-C comes) marks a
MIDI file with a gate's path (held_midi) and puts these readers in place of the real ones. They wait, for a marked
file only, until the gate file exists, then read it as the real ones do; a gate never created holds it until the
worker is killed. Pool workers run them by reference (`tests.held.read_piece`), so they hold there too.
"""
from __future__ import annotations

import re
import struct
import time
from pathlib import Path

from jukebox.parsing import read_piece as real_read_piece
from jukebox.primers import read_primer as real_read_primer

MARK = b"jukebox-test-hold:"


def held_midi(tune: bytes, gate: Path) -> bytes:
    """`tune` (a MIDI file's bytes) with a text event in its first track naming `gate`."""
    text = MARK + str(gate).encode() + b";"
    length = [len(text) & 0x7F]
    for shift in range(7, 28, 7):  # a MIDI variable-length quantity, most significant group first
        if len(text) >> shift:
            length.insert(0, 0x80 | (len(text) >> shift) & 0x7F)
    event = b"\x00\xff\x01" + bytes(length) + text
    at = tune.index(b"MTrk")
    size = struct.unpack(">I", tune[at + 4:at + 8])[0]
    return tune[:at] + b"MTrk" + struct.pack(">I", size + len(event)) + event + tune[at + 8:]


def hold(path: str | Path) -> None:
    """Return at once for an unmarked file; for a marked one, once its gate exists."""
    found = re.search(re.escape(MARK) + rb"([^;]*);", Path(path).read_bytes())
    if found:
        gate = Path(found[1].decode())
        while not gate.exists():
            time.sleep(0.05)


def read_piece(path):
    """jukebox.parsing.read_piece, after hold."""
    hold(path)
    return real_read_piece(path)


def read_primer(midi_path, max_notes: int, tracks: bool = False, scratch=None):
    """jukebox.primers.read_primer, after hold."""
    hold(midi_path)
    return real_read_primer(midi_path, max_notes, tracks, scratch)
