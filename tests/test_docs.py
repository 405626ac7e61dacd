"""The manual builds without a broken link or a page left out, and the README stays a short front page whose links
all lead somewhere."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

README_MAX_BYTES = 15 * 1024
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)")


def build(project: Path, site: Path) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of the project at `project`, with this venv's mkdocs."""
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=project, capture_output=True, text=True, timeout=300)


def copy_of_the_manual(tmp_path: Path) -> Path:
    """mkdocs.yml and docs/ in a scratch folder, to break on purpose."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project)
    shutil.copytree(ROOT / "docs", project / "docs")
    return project


def test_the_manual_builds_strictly(tmp_path):
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "guide" / "parameters.html").is_file()  # the offline plugin: plain .html pages


def test_a_broken_link_in_the_manual_fails_the_build(tmp_path):
    project = copy_of_the_manual(tmp_path)
    page = project / "docs" / "guide" / "composing.md"
    page.write_text(page.read_text() + "\nSee [the lost page](no-such-page.md).\n")
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stdout + result.stderr


def test_a_page_left_out_of_the_nav_fails_the_build(tmp_path):
    project = copy_of_the_manual(tmp_path)
    (project / "docs" / "guide" / "orphan.md").write_text("# Nobody links here\n")
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert "orphan.md" in result.stdout + result.stderr


def test_the_readme_is_a_short_front_page():
    size = (ROOT / "README.md").stat().st_size
    assert size <= README_MAX_BYTES, f"README.md is {size} bytes; keep it to {README_MAX_BYTES} and move the rest to docs/"


def relative_links(markdown: str) -> list[str]:
    """The link targets of a Markdown text that point into the repository (no URL, no bare #anchor)."""
    targets = (t for t in LINK.findall(markdown) if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#"))
    return [t.split("#", 1)[0] for t in targets]


def test_relative_links_are_told_apart_from_urls_and_anchors():
    text = ("[a](docs/a.md) ![b](docs/s.png) [c](https://dvc.org) [d](#two-commands) [e](docs/x.md#part) "
            "[f](mailto:me@example.org)")
    assert relative_links(text) == ["docs/a.md", "docs/s.png", "docs/x.md"]


def test_every_relative_link_in_the_readme_leads_to_a_file():
    links = relative_links((ROOT / "README.md").read_text())
    assert links, "the README links to no page of the manual"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"README.md links to files that do not exist: {missing}"
