"""`dvc plots show --html-template`: the page carries its own Vega, and Chromium draws every chart from disk, offline."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jukebox.plots_page import BUNDLES, plots_template
from tests.conftest import ROOT
from tests.test_web_browser import browser, screenshot, shots, wait_until  # noqa: F401 (fixtures)

# scripts/setup builds it into the virtual environment that runs the tests (.venv/vega/plots.html).
TEMPLATE = Path(sys.prefix) / "vega" / "plots.html"


def fake_node_modules(root: Path) -> Path:
    for bundle in BUNDLES:
        (root / bundle).parent.mkdir(parents=True, exist_ok=True)
        (root / bundle).write_text(f'window["{bundle}"] = "</script>";')
    return root


def test_the_template_inlines_the_three_bundles(tmp_path):
    page = plots_template(fake_node_modules(tmp_path))
    assert "{plot_divs}" in page and "{refresh_tag}" in page, "the placeholders DVC fills"
    assert "{scripts}" not in page and "<script src" not in page, "DVC's CDN script tags are left out"
    positions = [page.index(f'window["{bundle}"]') for bundle in BUNDLES]
    assert positions == sorted(positions), "vega, then vega-lite, then vega-embed"
    assert page.count("</script>") == 3 and page.count("<\\/script>") == 3, "no bundle ends its script early"


def test_a_missing_bundle_says_how_to_install_it(tmp_path):
    fake_node_modules(tmp_path)
    (tmp_path / BUNDLES[1]).unlink()
    with pytest.raises(FileNotFoundError, match=r"vega-lite\.min\.js is missing: install the npm packages .*scripts/setup"):
        plots_template(tmp_path)


CHARTS_DRAWN = """
const divs = [...document.querySelectorAll('body > div[id]')];
const drawn = divs.filter(d => {
  const c = d.querySelector('canvas.marks');
  if (!c || c.width < 100) return false;
  const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && (px[i] < 200 || px[i + 1] < 200)) ink++;
  return ink > 500;
});
return divs.length > 0 && drawn.length == divs.length ? divs.map(d => d.id) : null;
"""


@pytest.mark.slow
def test_chromium_draws_every_chart_offline(browser, shots, tmp_path):  # noqa: F811 (fixtures)
    if not TEMPLATE.is_file():
        reason = f"{TEMPLATE} is missing: scripts/setup builds it from the npm packages vega, vega-lite, vega-embed"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["dvc", "plots", "show", "--html-template", str(TEMPLATE), "-o", str(tmp_path / "plots")],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "plots" / "index.html").read_text()
    assert not re.search(r"<script[^>]+src=|https?://cdn", page), "nothing loaded from the network"

    browser.get((tmp_path / "plots" / "index.html").as_uri())
    drawn = wait_until(browser, CHARTS_DRAWN, timeout=60)
    assert "val_loss_by_genre" in drawn, "every genre's loss on one chart"
    assert {"metrics_celtic_pitch_classes_csv", "metrics_folk_train_plots_metrics_eval_loss_tsv"} <= set(drawn)
    combined = page[page.index('<div id = "val_loss_by_genre">'):]
    combined = combined[:combined.index("</div>")]
    assert all(f"{genre}/train/plots/metrics/eval/loss.tsv" in combined
               for genre in ("celtic", "classical", "folk")), "its data: the three genres' val_loss"
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors
    screenshot(browser, shots / "plots.png")
