"""Run directories and the self-contained HTML report (tables, figures, command, config)."""

from __future__ import annotations

import base64
import json
import math
import shlex
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from pcml.cli import main
from pcml.experiments.report import (
    build_report,
    format_number,
    format_value,
    metric_tables,
    write_markdown_table,
)
from pcml.experiments.rundir import RunDir, command_line, write_json_atomic

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PROBCONSERV = {
    "0.6": {
        "anp": {"mse": 1.234e-3, "ce": 0.0456, "ll": 2.5},
        "probconserv_anp": {"mse": 4.5e-4, "ce": -3.1e-13, "ll": 2.9, "shock_mean": 0.2351},
    },
    "0.7": {"anp": {"mse": 2e-3, "ce": -0.02, "ll": 2.0}},
}
BOON = {
    "fno": {"rel_l2": 0.0123, "boundary_error": 1.99},
    "boon": {"rel_l2": 0.004, "boundary_error": 0.0},
}


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.0123456, "0.0123"),
        (1.5, "1.50"),
        (-2.0, "-2.00"),
        (12345.6, "12300"),
        (999.96, "1000"),
        (0.001, "0.00100"),
        (0.00099949, "9.99e-4"),
        (3.1e-12, "3.10e-12"),
        (1e5, "1.00e5"),
        (-6.02e23, "-6.02e23"),
        (0.0, "0"),
        (7, "7"),
        (True, "true"),
        (math.nan, "nan"),
        (-math.inf, "-inf"),
    ],
)
def test_format_number(x: float, text: str) -> None:
    assert format_number(x) == text


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v != 0))
def test_format_number_keeps_three_significant_digits(x: float) -> None:
    shown, exact = Decimal(format_number(x)), Decimal(x)  # decimal: 1.80e308 > max float
    assert abs(shown - exact) <= Decimal("0.005") * abs(exact)


def test_format_value() -> None:
    assert format_value(None) == "—"
    assert format_value([1, 0.5]) == "[1, 0.500]"
    assert format_value(list(range(10))) == "10 values in [0, 9]"
    assert format_value("anp") == "anp"


def test_metric_tables_follow_the_nesting() -> None:
    tables = metric_tables(PROBCONSERV)
    assert [t.title for t in tables] == ["0.6", "0.7"]
    first = tables[0]
    assert first.columns == ("", "mse", "ce", "ll", "shock_mean")
    assert first.rows[0] == ("anp", (1.234e-3, 0.0456, 2.5, None))
    assert [label for label, _ in first.rows] == ["anp", "probconserv_anp"]

    (boon,) = metric_tables(BOON)
    assert boon.title == "" and boon.columns == ("", "rel_l2", "boundary_error")
    assert boon.rows == (("fno", (0.0123, 1.99)), ("boon", (0.004, 0.0)))

    flat, nested = metric_tables({"seconds": 12.5, "runs": {"a": {"x": 1}}})
    assert flat.columns == ("metric", "value") and flat.rows == (("seconds", (12.5,)),)
    assert nested.title == "runs" and nested.rows == (("a", (1,)),)

    deep = metric_tables({"burgers": {"nu=0.1": {"fno": {"rel_l2": 0.1}}}})
    assert [t.title for t in deep] == ["burgers / nu=0.1"]


def test_write_markdown_table() -> None:
    assert write_markdown_table(BOON) == (
        "|  | rel_l2 | boundary_error |\n"
        "|---|---:|---:|\n"
        "| fno | 0.0123 | 1.99 |\n"
        "| boon | 0.00400 | 0 |\n"
    )
    md = write_markdown_table(PROBCONSERV)
    assert md.startswith("### 0.6\n\n|  | mse | ce | ll | shock_mean |\n")
    assert "| probconserv_anp | 4.50e-4 | -3.10e-13 | 2.90 | 0.235 |" in md
    assert "| anp | 0.00123 | 0.0456 | 2.50 | — |" in md


@given(st.lists(st.text(min_size=1, max_size=8), max_size=5))
def test_command_line_round_trips_through_the_shell(args: list[str]) -> None:
    cmd = command_line(["/venv/bin/pcml", *args])
    assert shlex.split(cmd) == ["pcml", *args]


def test_command_line_forms() -> None:
    assert command_line(["/v/bin/pcml", "demo", "--out", "my runs"]) == "pcml demo --out 'my runs'"
    assert command_line(["/s/pcml/__main__.py", "report", "x"]) == "python -m pcml report x"
    assert command_line(["bench.py", "-n", "3"]) == "python bench.py -n 3"


@dataclass(frozen=True, slots=True)
class _Cfg:
    lr: float = 1e-3
    name: str = "<fno & co>"


def _make_run(root: Path) -> RunDir:
    run = RunDir(root / "run")
    run.write_metrics({**PROBCONSERV, "<script>": {"m": {"v": 1.0}}})
    run.write_table(write_markdown_table(BOON))
    run.write_config(_Cfg())
    run.write_command(["/v/bin/pcml", "probconserv", "run", "stefan", "--out", "runs/a b"])
    for i, caption in enumerate(["Total mass over time", None]):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [i, 1 - i])
        run.save_figure(fig, f"fig_{i}", caption=caption)
        plt.close(fig)
    (run.logs / "anp.jsonl").write_text(
        '{"epoch": 1, "train_loss": 2.0}\n{"epoch": 2, "train_loss": 1.0}\n'
    )
    return run


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_report_is_self_contained_and_complete(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    path = build_report(run.path)
    assert path == run.report_path
    page = path.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(page)
    text = "".join(parser.text)

    imgs = [attrs for tag, attrs in parser.tags if tag == "img"]
    assert len(imgs) == 2
    for attrs, png in zip(imgs, sorted(run.figures.glob("*.png")), strict=True):
        src = attrs["src"] or ""
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]) == png.read_bytes()
    assert [a["alt"] for a in imgs] == ["Total mass over time", "fig 1"]
    # nothing is fetched from anywhere: no links, external scripts or URLs
    for tag, attrs in parser.tags:
        assert tag not in ("link", "iframe", "object", "embed")
        assert not (tag == "script" and "src" in attrs)
        for value in attrs.values():
            assert not (value or "").startswith(("http:", "https:", "//", "file:"))
    assert "http://" not in page and "https://" not in page

    assert "pcml probconserv run stefan --out 'runs/a b'" in text
    assert 'name = "<fno & co>"' in text and "lr = 0.001" in text  # config, escaped in HTML
    assert "<fno & co>" not in page and "&lt;script&gt;" in page  # everything escaped
    for cell in ("probconserv_anp", "4.50e-4", "-3.10e-13", "0.00123", "0.0123", "1.99"):
        assert cell in text
    assert "Total mass over time" in text and "fig 1" in text
    assert "final epoch" in text and "train_loss" in text
    assert sum(tag == "table" for tag, _ in parser.tags) == 2 + 1 + 1 + 1  # metrics, md, logs


def test_missing_metrics_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"has no metrics\.json"):
        build_report(tmp_path)
    (tmp_path / "metrics.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        build_report(tmp_path)


def test_cli_report(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["report", str(tmp_path)])
    assert missing.exit_code == 1 and "has no metrics.json" in missing.output
    run = _make_run(tmp_path)
    run.report_path.unlink(missing_ok=True)
    ok = runner.invoke(main, ["report", str(run.path), "--title", "Stefan"])
    assert ok.exit_code == 0, ok.output
    assert "<title>Stefan</title>" in run.report_path.read_text(encoding="utf-8")


def test_rundir_files(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "r")
    assert run.checkpoints.is_dir() and run.logs.is_dir() and run.figures.is_dir()
    assert run.command is None
    write_json_atomic(run.metrics_path, {"a": np.float32(0.5), "b": np.arange(3), "c": math.inf})
    assert run.read_metrics() == {"a": 0.5, "b": [0, 1, 2], "c": math.inf}
    assert run.write_command(["/bin/pcml", "demo"]) == "pcml demo" == run.command
    fig = plt.figure()
    path = run.save_figure(fig, "mass.png", caption="mass")
    plt.close(fig)
    assert path.name == "mass.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads(run.captions_path.read_text()) == {"mass": "mass"}
    with pytest.raises(ValueError, match="figure name"):
        run.save_figure(fig, "../x")
    assert sorted(p.name for p in run.path.iterdir()) == [
        "checkpoints",
        "command.txt",
        "figures",
        "logs",
        "metrics.json",
    ]


def _story(figures: list[str]) -> dict[str, object]:
    return {
        "version": 1,
        "title": "A <story> & its title",
        "lead": "Lead paragraph.",
        "sections": [
            {
                "id": "one",
                "heading": "1. First problem",
                "text": ["u_t = u_xx <on> [0, 1]."],
                "key_result": "Error 0.0123 against 4.56.",
                "table": {
                    "title": "First table",
                    "columns": ["u*", "method", "MSE"],
                    "rows": [["0.6", "ANP", "0.0123"], ["0.6", "ProbConserv-ANP", "0.00456"]],
                    "row_headers": 2,
                    "note": "All dimensionless.",
                },
                "figures": figures,
            }
        ],
        "commands": [["Rerun", "pcml demo --out 'runs/a b'"]],
        "links": [["part", "one/report.html"], ["evil", "https://example.org/x"]],
    }


def test_story_report_reads_top_down_and_rebuilds_byte_for_byte(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    (run.path / "story.json").write_text(json.dumps(_story(["fig_1", "missing"])))
    page = build_report(run.path).read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(page)
    text = "".join(parser.text)
    assert "<title>A &lt;story&gt; &amp; its title</title>" in page  # the story's title, escaped
    assert "u_t = u_xx &lt;on&gt; [0, 1]." in page
    order = ["Lead paragraph.", "u_t = u_xx", "Key result.", "First table", "All dimensionless.",
             "Figures", "Figure 1. fig 1", "Other figures", "Figure 2. Total mass over time",
             "config.toml", "Reproduce", "pcml demo --out 'runs/a b'"]  # fmt: skip
    positions = [text.index(s) for s in order]
    assert positions == sorted(positions)
    # metrics.json and table.md are not repeated: the story's table is the only one
    assert sum(tag == "table" for tag, _ in parser.tags) == 1 and "4.50e-4" not in text
    assert sum(tag == "th" for tag, _ in parser.tags) == 3 + 2 * 2  # header + 2 labels per row
    assert [a.get("href") for t, a in parser.tags if t == "a"] == ["one/report.html"]
    assert sum(tag == "details" for tag, _ in parser.tags) == 1  # the configuration, folded
    assert str(run.path) not in page  # no path: the page depends on the files only
    # pcml report rebuilds the same bytes (no --title: the story's title)
    before = run.report_path.read_bytes()
    run.report_path.unlink()
    res = CliRunner().invoke(main, ["report", str(run.path)])
    assert res.exit_code == 0, res.output
    assert run.report_path.read_bytes() == before


def test_broken_story_is_a_clear_error(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    (run.path / "story.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"story\.json is not valid JSON"):
        build_report(run.path)
    (run.path / "story.json").write_text('{"title": "x"}')
    with pytest.raises(ValueError, match="sections"):
        build_report(run.path)
    res = CliRunner().invoke(main, ["report", str(run.path)])
    assert res.exit_code == 1 and "sections" in res.output


def test_generic_report_folds_the_configuration(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    page = build_report(run.path).read_text(encoding="utf-8")
    assert (
        page.index("Summary table")
        < page.index("<h2>Figures</h2>")
        < page.index("<details><summary>config.toml")
        < page.index("<h2>Reproduce</h2>")
    )
    assert "<b>Figure 1.</b> Total mass over time" in page
