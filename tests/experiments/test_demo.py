"""``pcml demo`` end to end (tiny size): summary, run directories, reuse, report in a browser."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from pcml.cli import main
from pcml.experiments.boon.config import make_config as boon_make_config
from pcml.experiments.config import load_config
from pcml.experiments.demo import (
    DemoConfig,
    SummaryRow,
    demo_config,
    format_summary,
    part_command,
    summary_rows,
)
from pcml.experiments.probconserv_config import make_config as pc_make_config
from pcml.experiments.report import format_number
from pcml.pdes.gpme import get_problem

_PNG = b"\x89PNG\r\n\x1a\n"
_STEFAN = "Stefan (u* = 0.6, t* = 0.05)"
_HEAT = "Heat, insulator at x = 0"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One tiny demo run shared by the tests of this module: (run dir, terminal output)."""
    out = tmp_path_factory.mktemp("demo") / "run"
    args = ["demo", "--out", str(out), "--size", "tiny", "--no-progress"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out, res.output


def _table(output: str) -> list[list[str]]:
    """The cells of the summary table printed by ``pcml demo`` (header row first)."""
    rows = []
    for line in output.splitlines():
        if line.startswith("|") and not re.fullmatch(r"\|[-:|]+\|", line):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_summary_table_has_the_expected_rows(demo_run: tuple[Path, str]) -> None:
    out, output = demo_run
    header, *rows = _table(output)
    assert header == ["problem", "model", "metric", "value"]
    keys = [(p, m, re.sub(r" \(true [0-9.]+\)", "", k)) for p, m, k, _ in rows]
    expected = [
        (_STEFAN, model, metric)
        for model in ("ANP", "ProbConserv-ANP")
        for metric in ("conservation error CE", "MSE", "shock position")
    ] + [
        (_HEAT, model, metric)
        for model in ("FNO", "BOON")
        for metric in (
            "flux error at x = 0 (insulator)",
            "flux error at x = 1 (heater)",
            "relative L2",
        )
    ]
    assert keys == expected
    front = get_problem("stefan").front(0.05, 0.6)
    assert f"shock position (true {float(front):.4f})" in output
    assert f"{float(front):.4f}" == "0.2351"  # the article's front for u* = 0.6, t* = 0.05

    # the printed values are metrics.json's, and they show what the demo is about
    metrics = json.loads((out / "metrics.json").read_text())
    assert format_summary(summary_rows(metrics)) in output
    s, h = metrics["stefan"], metrics["heat"]
    assert abs(s["probconserv_anp"]["ce"]) <= 1e-10 < abs(s["anp"]["ce"])
    for end in ("flux_error_x0", "flux_error_x1"):
        assert h["boon"][end] <= 1e-5 < h["fno"][end], end
    # the summary is the parts' own metrics.json, spelled out here key by key (not recomputed
    # with summary_metrics, the function under test)
    parts = {p: json.loads((out / p / "metrics.json").read_text()) for p in ("stefan", "heat")}
    pc, heat = parts["stefan"]["0.6"], parts["heat"]
    expected = {
        "stefan": {
            key: {
                "ce": pc[key]["ce"],
                "mse": pc[key]["mse"],
                "shock_mean": pc[key]["shock_mean"],
                "shock_std": pc[key]["shock_std"],
                "true_front": float(front),
            }
            for key in ("anp", "probconserv_anp")
        },
        "heat": {
            key: {
                "flux_error_x0": heat[key]["boundary_error_x_lower"],
                "flux_error_x1": heat[key]["boundary_error_x_upper"],
                "rel_l2": heat[key]["rel_l2"],
            }
            for key in ("fno", "boon")
        },
    }
    assert metrics == expected
    # each printed cell is the metrics.json number at the printed precision
    names = {"ANP": "anp", "ProbConserv-ANP": "probconserv_anp", "FNO": "fno", "BOON": "boon"}
    fields = {
        "conservation error CE": "ce",
        "MSE": "mse",
        "shock position": "shock_mean",
        "flux error at x = 0 (insulator)": "flux_error_x0",
        "flux error at x = 1 (heater)": "flux_error_x1",
        "relative L2": "rel_l2",
    }
    _, *rows = _table(output)
    for problem, model, metric, cell in rows:
        part = "stefan" if problem == _STEFAN else "heat"
        value = expected[part][names[model]][fields[re.sub(r" \(true [0-9.]+\)", "", metric)]]
        text = cell.split(" ± ")[0]
        assert abs(float(text) - value) <= _half_unit(text), (cell, value)


def _half_unit(text: str) -> float:
    """Half a unit in the last printed digit of ``text`` ("0.0128" → 5e-5, "-3.75e-16" →
    5e-19): what rounding to that many digits can move a value by (with a hair of slack)."""
    mantissa, _, exponent = text.partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals) * (1 + 1e-9)


def test_run_directories_are_complete(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    for d in (out, out / "stefan", out / "heat"):
        for name in ("config.toml", "metrics.json", "report.html", "command.txt", "table.md"):
            assert (d / name).is_file(), d / name
        pngs = sorted((d / "figures").glob("*.png"))
        assert pngs and all(p.read_bytes()[:8] == _PNG for p in pngs), d
        html = (d / "report.html").read_text()
        assert html.count("data:image/png;base64,") == len(pngs)
        assert "<script src" not in html and 'href="http' not in html
    for part, models in (("stefan", ("anp",)), ("heat", ("fno", "boon"))):
        ckpts = {p.name for p in (out / part / "checkpoints").glob("*-last.pt")}
        assert ckpts == {f"{m}-last.pt" for m in models}
    assert len(list((out / "figures").glob("*.png"))) == 8  # 6 copied + 2 training curves

    # config.toml is the resolved config: it loads back to the demo's config
    cfg = demo_config("tiny", 0)
    assert load_config(DemoConfig, out / "config.toml") == cfg
    assert (out / "command.txt").read_text().split() == [
        "pcml", "demo", "--out", str(out), "--seed", "0", "--size", "tiny", "--no-progress",
    ]  # fmt: skip
    # each part's command.txt reruns exactly that part (its saved config on the quick profile)
    for part in ("stefan", "heat"):
        cmd = (out / part / "command.txt").read_text().strip()
        assert cmd == part_command(part, out)
        tokens = shlex.split(cmd)
        config_file = tokens[tokens.index("--config") + 1]
        if part == "stefan":
            assert pc_make_config("stefan", "quick", config_file) == cfg.stefan
        else:
            assert boon_make_config("heat-neumann", "quick", False, config_file) == cfg.heat


def test_rerun_reuses_finished_parts(demo_run: tuple[Path, str]) -> None:
    out, first = demo_run
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoints/*.pt")}
    metrics = (out / "metrics.json").read_text()
    args = ["demo", "--out", str(out), "--size", "tiny", "--no-progress"]
    res = CliRunner().invoke(main, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert res.output.count("reused") >= 2
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/checkpoints/*.pt")} == stamps
    assert (out / "metrics.json").read_text() == metrics
    assert _table(res.output) == _table(first)
    assert json.loads((out / "timings.json").read_text())["reused"] == {
        "stefan": True,
        "heat": True,
    }

    # another seed in the same directory is refused, not mixed with the finished run
    res = CliRunner().invoke(main, [*args, "--seed", "1"])
    assert res.exit_code != 0
    assert "different config" in res.output and "--out" in res.output


#: Screenshot window: the width a reviewer reads at; tall enough for the story, the summary
#: tables and the first figure (checked below from the page's own layout).
SHOT_SIZE = (1400, 2600)


@pytest.mark.browser
def test_report_renders_in_headless_chromium(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The report in a real browser at 1400 px: every figure loads and is described, and the
    screenshot stored as ``DIR/report.png`` holds the story, the first table and the first
    figure. ``PCML_DEMO_RUN=runs/demo`` renders that (default-size) demo instead of the tiny
    one, so a reviewer gets ``runs/demo/report.png``."""
    from test_report_browser import _loaded, _open, check_figures_described

    given = os.environ.get("PCML_DEMO_RUN")
    out = Path(given) if given else request.getfixturevalue("demo_run")[0]
    shot = out / "report.png"
    dom = _open(out / "report.html", tmp_path, screenshot=shot, size=SHOT_SIZE)
    summary, per_image = _loaded(dom)
    n = len(list((out / "figures").glob("*.png")))
    assert summary == f"{n}/{n}" and per_image == ["true"] * n
    assert check_figures_described(dom) == n
    for text in ("ProbConserv-ANP", "flux error at x = 0", "pcml demo --out", "Key result."):
        assert text in dom, text
    # the page's load script records where the first story paragraph, table and figure end
    marks = {
        k: int(re.search(rf'data-first-{k}-bottom="(\d+)"', dom).group(1))  # type: ignore[union-attr]
        for k in ("story", "table", "figure")
    }
    assert marks["story"] < marks["table"] < marks["figure"] <= SHOT_SIZE[1], marks
    import matplotlib.image as mpimg

    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (SHOT_SIZE[1], SHOT_SIZE[0])
    assert pixels[..., :3].mean(axis=-1).std() > 0.02  # not a blank page
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 50


def test_pcml_report_reproduces_the_demo_report(demo_run: tuple[Path, str]) -> None:
    """``pcml report DIR`` rebuilds the demo's page byte for byte (same title, no path, no
    time in it), and the page reads top-down: story, key result, table, figures, folded
    configuration, commands; every metric once."""
    out, _ = demo_run
    page = (out / "report.html").read_bytes()
    (out / "report.html").unlink()
    res = CliRunner().invoke(main, ["report", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert (out / "report.html").read_bytes() == page
    text = page.decode("utf-8")
    assert "<title>pcml demo: exact conservation" in text and "pcml run:" not in text
    assert str(out) not in text.split("<h2>Reproduce</h2>")[0]  # no path above the commands
    order = [
        "The one-phase Stefan problem",
        "Key result.",
        "<caption>Stefan problem",
        "Heat flows in a rod",
        "<caption>Heat with an insulator",
        "<h2>Figures</h2>",
        "<figure",
        "<details><summary>config.toml",
        "<h2>Reproduce</h2>",
    ]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions), dict(zip(order, positions, strict=True))
    assert text.count("Figure 1.") == 1 and "Figure 8." in text
    # every number of the story's key results is the metrics' (computed, not typed)
    story = json.loads((out / "story.json").read_text())
    parts = {p: json.loads((out / p / "metrics.json").read_text()) for p in ("stefan", "heat")}
    stefan_key, heat_key = (sec["key_result"] for sec in story["sections"])
    for value, rows in parts["stefan"].items():
        for method in ("anp", "probconserv_anp"):
            for metric in ("ce", "mse"):
                assert format_number(rows[method][metric]) in stefan_key, (value, method, metric)
    for model in ("fno", "boon"):
        for metric in ("boundary_error_x_lower", "rel_l2"):
            assert format_number(parts["heat"][model][metric]) in heat_key, (model, metric)
    # metrics once: each MSE of the Stefan part appears exactly once on the page
    for rows in parts["stefan"].values():
        for m in rows.values():
            cell = f">{format_number(m['mse'])} ± {format_number(m['mse_se'])}<"
            assert text.count(cell) == 1, cell
    # no code names in the page's tables and figure titles
    assert "probconserv_anp<" not in text and "u_star" not in text.split("<details>")[0]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="size"):
        demo_config("huge")
    with pytest.raises(ValueError, match="seed"):
        demo_config("tiny", -1)
    with pytest.raises(ValueError, match="part"):
        part_command("burgers", Path("x"))
    res = CliRunner().invoke(main, ["demo", "--seed", "-1"])
    assert res.exit_code != 0 and "seed" in res.output.lower()


def test_format_summary_aligns_values() -> None:
    rows = [SummaryRow("p", "m", "CE", 1.5e-17), SummaryRow("p", "m", "shock", 0.2, 0.01)]
    lines = format_summary(rows).splitlines()
    assert len({len(line) for line in lines}) == 1  # a rectangular table
    assert lines[2].endswith("1.50e-17 |") and lines[3].endswith("0.2000 ± 0.0100 |")


def test_story_reports_the_bounded_method_when_the_run_has_it() -> None:
    """The story's key result and table take the bounded ProbConserv method from the metrics
    when the run has it (issue 15's method), with every number read from the metrics."""
    from pcml.experiments.demo_story import demo_story

    def row(ce: float, mse: float) -> dict[str, float | None]:
        return {"ce": ce, "ce_se": 1e-3, "mse": mse, "mse_se": 1e-4, "ll": 1.2, "ll_se": 0.01,
                "crps": 0.05, "crps_se": 1e-3, "shock_mean": 0.25, "shock_std": 0.05}  # fmt: skip

    stefan = {
        v: {
            "anp": row(-0.0571, 0.0169),
            "probconserv_anp": row(8.3e-18, 0.0115),
            "probconserv_anp_bounded": row(9.7e-18, 0.00898),
        }
        for v in ("0.5", "0.6")
    }
    heat_row = {"boundary_error_x_lower": 5.8, "boundary_error_x_upper": 6.9, "rel_l2": 0.0232}
    heat = {"fno": heat_row, "boon": {**heat_row, "boundary_error_x_lower": 3.7e-15}}
    story = demo_story(demo_config("tiny"), stefan, heat, {"stefan": ["1_stefan_profile"]}, [])
    stefan_sec, heat_sec = story["sections"]
    key = stefan_sec["key_result"]
    assert "the bounded variant (u(0, t*) = 1 and 0 ≤ u ≤ 1 enforced as well)" in key
    assert key.count("enforced as well") == 1  # explained once, not per test value
    assert "MSE 0.00898 (-47 %)" in key and "9.70e-18" in key
    methods = [r[1] for r in stefan_sec["table"]["rows"]]
    assert methods == ["ANP", "ProbConserv-ANP", "Bounded ProbConserv-ANP"] * 2
    assert "3.70e-15 (round-off) against the FNO's 5.80" in heat_sec["key_result"]
    assert stefan_sec["figures"] == ["1_stefan_profile"] and heat_sec["figures"] == []
    json.dumps(story)  # story.json is plain JSON
