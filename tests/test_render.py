import logging
import shutil
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from jukebox import render
from jukebox.midi_io import notes_to_stream, played_notes, read_notes, write_midi
from jukebox.render import listening_page, render_sample, write_listening_page
from tests.conftest import need, phrase_events

HAVE_AUDIO = render.audio_tools() is not None


def write_sample(folder: Path, name: str, transpose: int = 0) -> Path:
    path = folder / f"{name}.mid"
    write_midi(notes_to_stream(phrase_events(transpose, 2), program=40, bpm=132), path)
    return path


def audio_seconds(path: Path) -> float:
    """Length of a FLAC or Ogg Vorbis file from its own headers (sample count over rate); fails on anything else."""
    data = path.read_bytes()
    if data.startswith(b"fLaC"):
        bits = int.from_bytes(data[18:26], "big")  # STREAMINFO: 20 bits of rate, 8 of format, 36 of samples
        return (bits & (2**36 - 1)) / (bits >> 44)
    assert data.startswith(b"OggS") and data[28:35] == b"\x01vorbis", f"{path} is neither FLAC nor Ogg Vorbis"
    rate = int.from_bytes(data[40:44], "little")
    last = data.rindex(b"OggS")  # the last page's granule position is the stream's sample count
    return int.from_bytes(data[last + 6:last + 14], "little") / rate


def record(midi: Path, rendered: dict, **extra) -> dict:
    return {"name": midi.stem, "file": midi.name, **rendered, "n_notes": 18, "encoding": "rhythm",
            "temperature": 1.0, "top_k": 0, "top_p": 0.95, "seed": 42, "primer": "validation window at token 7",
            **extra}


def test_render_sample_writes_picture_score_and_audio(tmp_path):
    midi = write_sample(tmp_path, "sample_01")
    rendered = render_sample(midi, 40, 132.0)
    files = rendered["files"]
    assert files == {"midi": "sample_01.mid", "flac": "sample_01.flac" if HAVE_AUDIO else None,
                     "png": "sample_01.png", "musicxml": "sample_01.musicxml"}
    assert rendered["instrument"] == "Violin" and rendered["bpm"] == 132.0
    assert rendered["seconds"] == pytest.approx(16 * 60 / 132, abs=0.1), "16 quarter notes at 132 bpm"
    png = (tmp_path / files["png"]).read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000
    from music21 import converter

    score = converter.parse(tmp_path / files["musicxml"], forceSource=True)  # no pickle in the shared temp folder
    assert sorted({p.midi for p in score.pitches}) == sorted({n[2] for n in read_notes(midi)})
    if HAVE_AUDIO:
        assert audio_seconds(tmp_path / files["flac"]) >= rendered["seconds"], "the whole piece is heard"


def test_the_same_sample_always_gives_the_same_score(tmp_path):
    """music21 names parts by random ids and stamps the day; the score of a MIDI file is the same bytes every time."""
    midi = write_sample(tmp_path, "sample_01")
    render.write_musicxml(midi, tmp_path / "first.musicxml")
    render.write_musicxml(midi, tmp_path / "second.musicxml")
    first = (tmp_path / "first.musicxml").read_text()
    assert first == (tmp_path / "second.musicxml").read_text()
    assert "<encoding-date>" not in first and '<part id="P1">' in first


def test_audio_is_flac_and_every_rendering_can_wait(tmp_path):
    """The web app answers with the MIDI file; piano roll, FLAC and score are written after (render_later)."""
    need(HAVE_AUDIO, "FluidSynth and a General MIDI SoundFont")
    midi = write_sample(tmp_path, "reel", 0)
    rendered = render_sample(midi, 40, 132.0, later=True)
    files = rendered["files"]
    assert not any((tmp_path / files[kind]).exists() for kind in ("png", "flac", "musicxml"))
    assert rendered["seconds"] == pytest.approx(16 * 60 / 132, abs=0.1) and rendered["instrument"] == "Violin"
    assert render.render_later(midi, ".png", 40, 132.0).read_bytes().startswith(b"\x89PNG")
    path = render.render_later(midi, ".musicxml")
    assert path == tmp_path / files["musicxml"] and path.read_bytes().startswith(b"<?xml")
    assert render.render_later(midi, ".flac") == tmp_path / files["flac"]
    assert (tmp_path / files["flac"]).read_bytes().startswith(b"fLaC")
    assert audio_seconds(tmp_path / files["flac"]) > 7, "16 quarter notes at 132 bpm and the release"
    with pytest.raises(ValueError, match=r"only \.png, \.flac, \.musicxml is written later"):
        render.render_later(midi, ".wav")
    # The type follows the suffix, whatever the temporary file is called; an unknown one is refused by name.
    render.write_audio(midi, tmp_path / "reel.ogg", *render.audio_tools())
    assert audio_seconds(tmp_path / "reel.ogg") == pytest.approx(audio_seconds(tmp_path / files["flac"]), abs=0.1)
    with pytest.raises(ValueError, match="not '.mp3'"):
        render.write_audio(midi, tmp_path / "reel.mp3", *render.audio_tools())


def test_missing_fluidsynth_warns_once_and_writes_the_rest(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    render._warn_once.cache_clear()
    with caplog.at_level(logging.WARNING, logger="jukebox.render"):
        first = render_sample(write_sample(tmp_path, "a"), 0, 120.0)
        second = render_sample(write_sample(tmp_path, "b", 2), 0, 120.0)
    assert first["files"]["flac"] is None and second["files"]["flac"] is None
    assert caplog.text.count("fluidsynth program is not on PATH") == 1
    assert (tmp_path / "b.png").is_file() and (tmp_path / "b.musicxml").is_file() and not (tmp_path / "b.flac").exists()


def test_missing_soundfont_is_named(tmp_path, caplog):
    missing = tmp_path / "nowhere.sf2"
    with caplog.at_level(logging.WARNING, logger="jukebox.render"):
        assert render.audio_tools(missing) is None
    assert str(missing) in caplog.text or shutil.which("fluidsynth") is None


def test_listening_page_shows_each_sample_with_its_parameters(tmp_path):
    samples = []
    for i in (1, 2):
        midi = write_sample(tmp_path, f"sample_0{i}", i)
        files = {"midi": midi.name, "flac": f"sample_0{i}.flac" if i == 1 else None, "png": f"sample_0{i}.png",
                 "musicxml": f"sample_0{i}.musicxml"}
        samples.append(record(midi, {"files": files, "instrument": "Flute", "program": 73, "bpm": 108.0,
                                     "seconds": 75.3}, temperature=0.0 if i == 2 else 0.9))
    html = listening_page("folk <&>", samples, base_url="/files/folk/")
    assert "folk &lt;&amp;&gt;" in html, "escaped"
    assert html.count("<audio") == 1 and 'src="/files/folk/sample_01.flac"' in html
    assert 'href="/files/folk/sample_01.flac" download>FLAC audio (lossless)' in html
    assert "No audio" in html, "a sample without audio says why"
    assert 'src="/files/folk/sample_02.png"' in html and 'href="/files/folk/sample_02.musicxml"' in html
    for shown in ("Flute (General MIDI 73)", "108.0 bpm", "1:15", "0.9", "always the most likely token",
                  "top-k</th><td>off", "0.95", "validation window at token 7"):
        assert shown in html, shown
    page = write_listening_page("folk", samples, tmp_path)
    assert page == tmp_path / "index.html" and 'src="sample_01.flac"' in page.read_text()
    before_flac = {**samples[0], "files": {"midi": "old.mid", "wav": "old.wav", "png": "old.png"}}
    assert 'src="old.wav"' in listening_page("folk", [before_flac]), "records from before FLAC still play"


@pytest.fixture
def chromium(tmp_path):
    """Headless Debian Chromium through Selenium, with a fresh profile and nothing that calls home."""
    need(bool(shutil.which("chromium") and shutil.which("chromedriver")), "Debian chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1280,1800", "--autoplay-policy=no-user-gesture-required",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.mark.slow
def test_listening_page_plays_and_shows_in_a_real_browser(tmp_path, chromium):
    from PIL import Image
    from selenium.webdriver.support.ui import WebDriverWait

    out = tmp_path / "generated"
    samples = []
    for i in (1, 2, 3):
        midi = write_sample(out, f"sample_0{i}", 2 * i)
        samples.append(record(midi, render_sample(midi, 40, 132.0)))
    page = write_listening_page("celtic", samples, out)
    chromium.get(page.as_uri())
    assert chromium.title == "AI Jukebox · celtic"

    audios = chromium.find_elements("css selector", "audio")
    assert len(audios) == (3 if HAVE_AUDIO else 0)
    # The browser decodes each FLAC file far enough to know its length: the file is real audio, not just present.
    WebDriverWait(chromium, 20).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('audio')].every(a => a.readyState >= 1 && a.duration > 1)"))
    for audio in audios:
        src = Path(unquote(urlparse(audio.get_attribute("src")).path))
        assert src.is_file() and src.parent == out and src.suffix == ".flac", src

    images = chromium.find_elements("css selector", "img")
    assert len(images) == 3
    WebDriverWait(chromium, 20).until(lambda d: d.execute_script(
        "return [...document.images].every(i => i.complete && i.naturalWidth > 0)"))
    assert all(Path(unquote(urlparse(i.get_attribute("src")).path)).is_file() for i in images)

    shot = tmp_path / "listening-page.png"
    assert chromium.save_screenshot(str(shot))
    with Image.open(shot) as image:
        colours = image.convert("RGB").resize((64, 64)).getcolors(64 * 64)
    assert colours is not None and len(colours) > 20, "the screenshot shows something, not a blank page"


def test_a_remi_sample_keeps_its_meter_in_the_score_and_bar_lines_in_the_piano_roll(tmp_path):
    from music21 import converter, meter, stream

    from jukebox.encodings import get_encoding

    remi = get_encoding("remi")
    tokens = ["Bar:3/4", "@0", "G4:1", "@1", "B4:1", "@2", "D5:1", "Bar:3/4", "@0", "G5:2", "@2", "F#5:1",
              "Bar:2/4", "@0", "E5:1/2", "@1/2", "D5:3/2", "Bar:2/4", "@0", "G4:2"]
    midi = tmp_path / "waltz.mid"
    write_midi(notes_to_stream(remi.decode(tokens), 40, 132, remi.meters(tokens)), midi)
    files = render_sample(midi, 40, 132.0)["files"]
    score = converter.parse(tmp_path / files["musicxml"], forceSource=True)
    part = score.parts[0]
    signatures = [ts.ratioString for ts in part.recurse().getElementsByClass(meter.TimeSignature)]
    assert signatures == ["3/4", "2/4"], "the score names the meter and its change"
    measures = list(part.getElementsByClass(stream.Measure))
    assert [m.barDuration.quarterLength for m in measures] == [3, 3, 2, 2]
    assert [m.duration.quarterLength for m in measures] == [3, 3, 2, 2], "every bar holds its meter, bar lines kept"
    # Bar lines are drawn: the same notes under another meter draw them elsewhere.
    render.write_piano_roll(played_notes(midi), tmp_path / "a.png", "", [(0.0, "3/4"), (6.0, "2/4")])
    render.write_piano_roll(played_notes(midi), tmp_path / "b.png", "", [(0.0, "5/4")])
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()
