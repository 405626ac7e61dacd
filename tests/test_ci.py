"""CI cannot pass having tested neither the browser nor the audio: .ci/run is the README's command, and it fails
on a machine without Chromium or FluidSynth."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_ci_runs_exactly_the_readme_test_command():
    command = (ROOT / ".ci/run").read_text().strip().splitlines()[-1]
    assert command == "scripts/setup && JUKEBOX_REQUIRE_TOOLS=1 .venv/bin/pytest"
    assert f"```bash\n{command}\n```" in (ROOT / "README.md").read_text()


def test_a_run_that_requires_the_tools_fails_without_them(tmp_path):
    # A PATH holding only this Python's folder: no chromium, chromedriver or fluidsynth on it.
    # CI itself runs with JUKEBOX_REQUIRE_TOOLS=1: the relaxed run must not inherit it.
    env = {**{k: v for k, v in os.environ.items() if k != "JUKEBOX_REQUIRE_TOOLS"},
           "PATH": os.path.dirname(sys.executable), "PYTHONPATH": str(ROOT)}
    test = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            "tests/test_ci.py::test_ci_runs_exactly_the_readme_test_command"]
    required = subprocess.run(test, cwd=ROOT, env={**env, "JUKEBOX_REQUIRE_TOOLS": "1"}, capture_output=True,
                              text=True, timeout=120)
    assert required.returncode != 0
    assert "JUKEBOX_REQUIRE_TOOLS=1, but this machine lacks chromium, chromedriver, fluidsynth" in \
        required.stdout + required.stderr
    relaxed = subprocess.run(test, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert relaxed.returncode == 0, relaxed.stdout + relaxed.stderr
