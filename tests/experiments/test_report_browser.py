"""report.html in a real browser: headless Chromium loads every embedded figure.

The report's inline script marks, after the load event, every ``<img>`` with
``data-loaded="true|false"`` (``complete && naturalWidth > 0``) and the body with
``data-images-loaded="k/n"``; ``--dump-dom`` prints the DOM after that script ran. A negative
control with one corrupted PNG checks that a broken figure is detected.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from pcml.experiments.report import build_report, write_markdown_table
from pcml.experiments.rundir import RunDir

matplotlib.use("Agg")
import matplotlib.image as mpimg
import matplotlib.pyplot as plt

pytestmark = pytest.mark.browser

_WIDTH, _HEIGHT = 1100, 1500


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        pytest.skip(
            "headless Chromium is not installed (Debian: apt-get install chromium; .ci/run "
            "installs it when apt-get is available), so report.html cannot be rendered"
        )
    return found


def _open(
    page: Path,
    tmp: Path,
    screenshot: Path | None = None,
    size: tuple[int, int] = (_WIDTH, _HEIGHT),
) -> str:
    """Load ``page`` in headless Chromium (window ``size`` = (width, height) px); returns the DOM
    after the page's scripts ran."""
    cmd = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        f"--window-size={size[0]},{size[1]}",
        "--hide-scrollbars",
    ]
    if screenshot is not None:
        cmd.append(f"--screenshot={screenshot}")
    cmd += ["--dump-dom", page.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _make_run(path: Path) -> RunDir:
    run = RunDir(path)
    metrics = {"fno": {"rel_l2": 0.0123, "boundary_error": 1.99}, "boon": {"rel_l2": 0.004}}
    run.write_metrics(metrics)
    run.write_table(write_markdown_table(metrics))
    run.write_command(["/venv/bin/pcml", "boon", "run", "heat-neumann", "--out", str(path)])
    x = np.linspace(0.0, 1.0, 200)
    for k, caption in enumerate(["Solution near the insulator", "du/dx at both ends"]):
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot(x, np.cos((k + 2) * np.pi * x), label="BOON")
        ax.plot(x, np.cos((k + 2) * np.pi * x) + 0.1 * x, "--", label="FNO")
        ax.legend()
        run.save_figure(fig, f"fig{k}", caption=caption)
        plt.close(fig)
    return run


class _Figures(HTMLParser):
    """Collects every <img>'s alt text and every <figure>'s figcaption text."""

    def __init__(self) -> None:
        super().__init__()
        self.alts: list[str | None] = []
        self.captions: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.alts.append(dict(attrs).get("alt"))
        elif tag == "figure":
            self.captions.append("")
            self._in = "figure"
        elif tag == "figcaption" and self._in == "figure":
            self._in = "figcaption"

    def handle_endtag(self, tag: str) -> None:
        if tag == "figcaption" and self._in == "figcaption":
            self._in = "figure"
        elif tag == "figure":
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "figcaption":
            self.captions[-1] += data


def check_figures_described(dom: str) -> int:
    """Assert that every <img> has a non-empty alt text and every <figure> a non-empty
    figcaption; returns the number of figures."""
    parser = _Figures()
    parser.feed(dom)
    assert parser.alts and all(a and a.strip() for a in parser.alts), parser.alts
    assert len(parser.captions) == len(parser.alts)
    assert all(c.strip() for c in parser.captions), parser.captions
    return len(parser.captions)


def _loaded(dom: str) -> tuple[str, list[str]]:
    body = re.search(r'<body[^>]*data-images-loaded="([^"]*)"', dom)
    assert body is not None, "the report's load script did not run"
    return body.group(1), re.findall(r'<img[^>]*data-loaded="([^"]*)"', dom)


def test_every_figure_loads_in_headless_chromium(tmp_path: Path) -> None:
    run = _make_run(tmp_path / "run")
    page = build_report(run.path)
    shot = tmp_path / "report.png"
    dom = _open(page, tmp_path, screenshot=shot)
    summary, per_image = _loaded(dom)
    assert summary == "2/2" and per_image == ["true", "true"]
    assert "Solution near the insulator" in dom and "boundary_error" in dom
    assert check_figures_described(dom) == 2

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (_HEIGHT, _WIDTH)
    gray = pixels[..., :3].mean(axis=-1)
    assert gray.std() > 0.02  # text, tables and plots, not a blank page
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 50


def test_a_broken_figure_is_detected(tmp_path: Path) -> None:
    """Negative control: the same check reports a corrupted PNG as not loaded."""
    run = _make_run(tmp_path / "run")
    broken = run.figures / "fig1.png"
    broken.write_bytes(broken.read_bytes()[:64])  # truncated: the browser cannot decode it
    summary, per_image = _loaded(_open(build_report(run.path), tmp_path))
    assert summary == "1/2" and per_image == ["true", "false"]


def test_a_figure_without_caption_or_alt_is_detected() -> None:
    """Negative control of :func:`check_figures_described`."""
    img = '<img src="data:image/png;base64,AA" alt="{}">'
    good = f"<figure>{img.format('mass')}<figcaption>mass</figcaption></figure>"
    assert check_figures_described(good) == 1
    for bad in (
        f"<figure>{img.format('')}<figcaption>mass</figcaption></figure>",
        f"<figure>{img.format('mass')}</figure>",
        f"<figure>{img.format('mass')}<figcaption> </figcaption></figure>",
        '<figure><img src="x"><figcaption>mass</figcaption></figure>',
    ):
        with pytest.raises(AssertionError):
            check_figures_described(bad)
