import subprocess
import sys
from pathlib import Path

import pytest

from jukebox.cli import main
from jukebox.encodings import encode
from jukebox.midi_io import read_notes
from jukebox.render import audio_tools
from tests.conftest import write_tune
from tests.tiny_genre import write_tiny_genre


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return write_tiny_genre(tmp_path_factory.mktemp("project"))


def test_generate_composes_from_a_primer_and_renders(project, tmp_path, capsys):
    primer = write_tune(tmp_path / "tune.mid", transpose=2)
    out = tmp_path / "song.mid"
    main(["--project", str(project), "generate", "--genre", "tiny", "--primer", str(primer), "--temperature", "0.9",
          "--top-k", "8", "--top-p", "0.9", "--n-notes", "30", "--seed", "3", "--out", str(out), "--render"])
    printed = capsys.readouterr().out
    assert "30 notes" in printed and "top_k 8" in printed and "Flute" in printed
    notes = read_notes(out)
    assert len({on for on, _, _ in notes}) > 5 and len({dur for _, dur, _ in notes}) > 1, "rhythm, not a fixed step"
    assert (tmp_path / "song.png").is_file() and (tmp_path / "song.musicxml").is_file()
    assert (tmp_path / "song.flac").is_file() == (audio_tools() is not None)
    again = tmp_path / "again.mid"
    main(["--project", str(project), "generate", "--genre", "tiny", "--primer", str(primer), "--temperature", "0.9",
          "--top-k", "8", "--top-p", "0.9", "--n-notes", "30", "--seed", "3", "--out", str(again)])
    assert read_notes(again) == notes, "seeded: the same command writes the same music"


def test_generate_without_primer_starts_from_a_validation_window(project, tmp_path):
    out = tmp_path / "song.mid"
    main(["--project", str(project), "generate", "--genre", "tiny", "--out", str(out), "--temperature", "0"])
    tokens = encode(read_notes(out), "rhythm")
    assert sum(not t.startswith("+") for t in tokens) == 24, "n_notes from params.yaml"


@pytest.mark.parametrize("args, message", [
    (["--genre", "jazz"], "unknown genre 'jazz'"),
    (["--genre", "tiny", "--primer", "missing.mid"], "missing.mid"),
])
def test_generate_errors_name_what_to_fix(project, tmp_path, args, message):
    with pytest.raises(SystemExit) as exit_:
        main(["--project", str(project), "generate", *args, "--out", str(tmp_path / "x.mid")])
    assert message in str(exit_.value)


@pytest.mark.parametrize("option, value", [("--top-p", "1.5"), ("--top-k", "-1"), ("--temperature", "-2"),
                                           ("--n-notes", "0"), ("--top-p", "many")])
def test_generate_refuses_out_of_range_options(option, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "--genre", "celtic", "--out", "x.mid", option, value])
    assert exit_.value.code == 2 and option in capsys.readouterr().err


def test_the_installed_command_has_help():
    jukebox = Path(sys.executable).parent / "jukebox"
    if not jukebox.exists():
        pytest.skip("the package is not installed into this Python (pip install -e .)")
    result = subprocess.run([str(jukebox), "generate", "--help"], capture_output=True, text=True, check=True)
    for option in ("--genre", "--primer", "--temperature", "--top-k", "--top-p", "--n-notes", "--out", "--render"):
        assert option in result.stdout
