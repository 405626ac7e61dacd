import os
import time

import numpy as np
import pytest

from jukebox.artifacts import atomic_path, prune_oldest, read_npy, safe_name, unique_name, write_json, write_npy


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


ODD_NAMES = ["ñandú tune", "日本の歌", "with space", ".hidden", "new\nline", "-dash", "emoji 🎻", "a" * 200]


def test_prune_oldest_deletes_the_oldest_until_under_the_limit_and_spares_the_new(tmp_path):
    """Forty 1,000-byte samples (folders and bare files, odd names) over a 25,000-byte limit: the oldest go."""
    now = time.time()
    entries = []
    for i in range(40):
        entry = tmp_path / f"{ODD_NAMES[i % len(ODD_NAMES)]} {i:02d}"
        if i % 3:
            (entry / "sub").mkdir(parents=True)
            (entry / "sample.ogg").write_bytes(b"x" * 600)
            (entry / "sub" / "score.musicxml").write_bytes(b"y" * 400)
        else:
            entry.write_bytes(b"z" * 1000)
        os.utime(entry, (now - 3600 + i * 60, now - 3600 + i * 60))  # entry i changed i minutes after the first
        entries.append(entry)
    (tmp_path / "link").symlink_to("/etc")  # a link counts as itself and is never followed
    os.utime(tmp_path / "link", (now - 7200, now - 7200), follow_symlinks=False)
    deleted = prune_oldest(tmp_path, 25_000, spare_newer_than=600)
    assert deleted[0] == tmp_path / "link" and deleted[1:] == entries[:15], "oldest first, only as many as needed"
    assert not (tmp_path / "link").exists() and os.path.isdir("/etc")
    left = sorted(tmp_path.iterdir())
    assert left == sorted(entries[15:]) and all(e.exists() for e in entries[15:])

    # The rest are changed within the spared ten minutes: kept even though the folder stays over a tiny limit.
    for entry in entries[15:]:
        os.utime(entry, (now - 60, now - 60))
    assert prune_oldest(tmp_path, 1, spare_newer_than=600) == []
    assert len(list(tmp_path.iterdir())) == 25
    assert prune_oldest(tmp_path / "missing", 1, 600) == [], "no store yet: nothing to prune"
