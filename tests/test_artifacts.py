import numpy as np
import pytest

from jukebox.artifacts import atomic_path, read_npy, safe_name, unique_name, write_json, write_npy


def test_atomic_path_keeps_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text().strip().startswith("{") and '"v": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"], "no temporary file may be left behind"


def test_npy_round_trip_refuses_pickles(tmp_path):
    write_npy(tmp_path / "a.npy", np.arange(5, dtype=np.int32))
    assert read_npy(tmp_path / "a.npy").tolist() == [0, 1, 2, 3, 4]
    np.save(tmp_path / "obj.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):
        read_npy(tmp_path / "obj.npy")


@pytest.mark.parametrize("hostile", ["../../etc/passwd", "a/b\\c", "..", "\x00\x1fname", "ñandú tune?", "", "." * 300])
def test_safe_name_stays_in_folder(hostile):
    name = safe_name(hostile, ".mid")
    assert "/" not in name and "\\" not in name and ".." not in name
    assert name.endswith(".mid") and len(name) <= 84 and name.isascii() and name.isprintable()


def test_unique_name_is_deterministic():
    taken: set[str] = set()
    assert [unique_name("a.mid", taken) for _ in range(3)] == ["a.mid", "a-2.mid", "a-3.mid"]
    assert unique_name("A.MID", taken) == "A-4.MID"


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_outputs_get_the_mode_the_umask_gives_a_new_file(tmp_path, mask, mode):
    """mkstemp's 0600 made samples, raw MIDI and token arrays unreadable to a web server's account."""
    import os
    import stat

    from jukebox.artifacts import write_bytes

    old = os.umask(mask)
    try:
        write_bytes(tmp_path / "sample.mid", b"MThd")
        write_npy(tmp_path / "train.npy", np.arange(3))
    finally:
        os.umask(old)
    for name in ("sample.mid", "train.npy"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
