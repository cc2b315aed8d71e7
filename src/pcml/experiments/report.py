"""The run report: one self-contained HTML page built from the files of a run directory.

``build_report(DIR)`` writes ``DIR/report.html`` with ``table.md``, the metrics of
``metrics.json`` as tables, the last training records, every ``figures/*.png`` embedded as a
base64 ``data:`` URI with its caption (``figures/captions.json``) as alt text and figcaption, the
resolved config folded in ``<details>`` and the command to reproduce the run; inline CSS and no
external resource, so the file can be mailed or attached as is. ``pcml report DIR`` rebuilds it,
byte for byte (the page holds no path and no time).

A run directory with a ``story.json`` (the demo, :mod:`pcml.experiments.demo_story`) is rendered
as a story instead: ``{"title", "lead", "sections": [{"id", "heading", "text": [..],
"key_result", "table": {"title", "columns", "rows", "row_headers", "note"}, "figures": [stems]}],
"commands": [[what, command]], "links": [[label, relative href]]}`` — one section per problem
(paragraph, key result, table), then the figures by section, the configuration, the commands.

Metric tables are read off the nesting of ``metrics.json``:

* ``{metric: v}``                   → one two-column table (metric, value);
* ``{row: {metric: v}}``            → one table, rows × metrics (e.g. models × metrics);
* ``{group: {row: {metric: v}}}``   → one such table per group (e.g. per test parameter,
  methods × metrics); deeper nesting recurses the same way, titles joined with " / ".

Numbers are shown with 3 significant digits, in scientific notation below 1e-3 or from 1e5.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._version import __version__
from .rundir import (
    RunDir,
    load_json,
    parse_json,
    read_bytes_inside,
    read_text_inside,
    write_text_atomic,
)


@dataclass(frozen=True, slots=True)
class MetricTable:
    """One rendered table: ``title`` ("" at top level), header ``columns`` (the first names
    the row labels) and ``rows`` of (label, cells)."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Any, ...]], ...]


def format_number(x: float) -> str:
    """3 significant digits: ``0.0123``, ``1.50``, ``12300``, ``3.10e-12``, ``nan``."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    rounded = float(f"{x:.3g}")
    if 1e-3 <= abs(rounded) < 1e5:
        decimals = max(0, 2 - math.floor(math.log10(abs(rounded))))
        return f"{rounded:.{decimals}f}"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def format_value(value: Any) -> str:
    """A table cell: numbers via :func:`format_number`, None as "—", short lists inline."""
    if value is None:
        return "—"
    if isinstance(value, bool | int | float):
        return format_number(value)
    if isinstance(value, list | tuple):
        numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
        if len(numbers) == len(value) and len(value) > 6:
            lo, hi = min(numbers), max(numbers)
            return f"{len(value)} values in [{format_number(lo)}, {format_number(hi)}]"
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def metric_tables(metrics: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[MetricTable]:
    """The tables of a nested metrics dict (see the module docstring)."""
    title = " / ".join(path)
    leaves = {k: v for k, v in metrics.items() if not isinstance(v, Mapping)}
    groups = {k: v for k, v in metrics.items() if isinstance(v, Mapping)}
    tables = []
    if leaves:
        pairs = tuple((str(k), (v,)) for k, v in leaves.items())
        tables.append(MetricTable(title, ("metric", "value"), pairs))
    flat = all(not isinstance(x, Mapping) for g in groups.values() for x in g.values())
    if groups and flat:
        columns: dict[str, None] = {}
        for g in groups.values():
            columns.update(dict.fromkeys(map(str, g)))
        rows = tuple((str(k), tuple(g.get(c) for c in columns)) for k, g in groups.items())
        tables.append(MetricTable(title, ("", *columns), rows))
    elif groups:
        for k, g in groups.items():
            tables.extend(metric_tables(g, (*path, str(k))))
    return tables


def write_markdown_table(metrics: Mapping[str, Any]) -> str:
    """The metric tables as Markdown pipe tables (``### title`` above each titled table)."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    parts = []
    for table in metric_tables(metrics):
        lines = [f"### {table.title}", ""] if table.title else []
        lines.append("| " + " | ".join(cell(c) for c in table.columns) + " |")
        lines.append("|" + "|".join(["---"] + ["---:"] * (len(table.columns) - 1)) + "|")
        for label, cells in table.rows:
            lines.append(
                "| " + " | ".join([cell(label), *(cell(format_value(v)) for v in cells)]) + " |"
            )
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _html_table(table: MetricTable, level: int = 3) -> str:
    out = [f"<h{level}>{html.escape(table.title)}</h{level}>"] if table.title else []
    out.append("<table><thead><tr>")
    out.extend(f"<th>{html.escape(c)}</th>" for c in table.columns)
    out.append("</tr></thead><tbody>")
    for label, cells in table.rows:
        out.append(f"<tr><th>{html.escape(label)}</th>")
        out.extend(f"<td>{html.escape(format_value(v))}</td>" for v in cells)
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _markdown_to_html(text: str) -> str:
    """Just enough Markdown for ``table.md``: headings, pipe tables, paragraphs."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            head, *body = table
            out.append("<table><thead><tr>")
            out.extend(f"<th>{html.escape(c)}</th>" for c in head)
            out.append("</tr></thead><tbody>")
            for row in body:
                out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
            out.append("</tbody></table>")
            table.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", stripped)[1:-1]]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                table.append(cells)
            continue
        flush()
        heading = re.match(r"(#{1,6})\s+(.*)", stripped)
        if heading:
            level = min(len(heading.group(1)) + 2, 6)
            out.append(f"<h{level}>{html.escape(heading.group(2))}</h{level}>")
        elif stripped:
            out.append(f"<p>{html.escape(stripped)}</p>")
    flush()
    return "".join(out)


def _training_tables(logs: Path) -> list[MetricTable]:
    """Last record of each ``logs/*.jsonl`` as one table (rows: trained models)."""
    last: dict[str, Any] = {}
    for log in sorted(logs.glob("*.jsonl")):
        lines = [ln for ln in read_text_inside(logs.parent, log).splitlines() if ln.strip()]
        if lines:
            last[log.stem] = parse_json(lines[-1], log)
    return metric_tables({"final epoch": last}) if last else []


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1100px;
  margin:2em auto;padding:0 1em;color:#1d2330;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #2b6cb0;padding-bottom:.2em}
h2{font-size:1.25em;margin-top:1.8em;color:#2b6cb0}
h3{font-size:1.05em;margin-bottom:.3em}
pre{background:#f4f6fa;border:1px solid #dde3ec;padding:.7em;overflow-x:auto;font-size:.88em}
table{border-collapse:collapse;margin:.4em 0 1.2em;font-size:.92em}
th,td{border:1px solid #d3d9e3;padding:.25em .7em}
td{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td:first-child,tbody th{text-align:left;white-space:nowrap}
thead th{background:#eef2f8}
figure{margin:1.2em 0;text-align:center}
figure img{max-width:100%;height:auto;border:1px solid #e2e6ee}
figcaption{font-size:.95em;color:#2d3748;margin:.4em auto 0;max-width:60em;text-align:left}
caption{caption-side:top;text-align:left;font-weight:600;padding:.2em 0}
.lead{font-size:1.05em}
.key{background:#f0f7ff;border-left:4px solid #2b6cb0;padding:.5em .8em}
.note{font-size:.88em;color:#4a5568;max-width:70em}
details{margin:.4em 0 1em}
summary{cursor:pointer;color:#2b6cb0}
.meta{color:#718096;font-size:.85em}
"""

# Records, after load, whether every image decoded and where the first story paragraph, table
# and figure end (used by the headless-browser tests).
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) {
    var good = imgs[i].complete && imgs[i].naturalWidth > 0;
    imgs[i].setAttribute("data-loaded", good ? "true" : "false");
    if (good) { ok++; }
  }
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
  // where the first story paragraph, table and figure end (CSS px from the top of the page)
  var marks = {"story": "p.story", "table": "table", "figure": "figure"};
  for (var k in marks) {
    var el = document.querySelector(marks[k]);
    if (el) {
      var bottom = Math.ceil(el.getBoundingClientRect().bottom + window.scrollY);
      document.body.setAttribute("data-first-" + k + "-bottom", bottom);
    }
  }
});
"""


def _figure_html(fig: Path, caption: str, number: int | None = None) -> str:
    """One ``<figure>``: the PNG embedded as a base64 data URI, alt text and caption."""
    data = base64.b64encode(read_bytes_inside(fig.parent.parent, fig)).decode("ascii")
    label = "" if number is None else f"<b>Figure {number}.</b> "
    return (
        f'<figure id="{html.escape(fig.stem)}"><img src="data:image/png;base64,{data}" '
        f'alt="{html.escape(caption)}"><figcaption>{label}{html.escape(caption)}</figcaption>'
        "</figure>"
    )


def _story_table(table: Mapping[str, Any]) -> str:
    """A story table: ``{"title", "columns", "rows": [[str, ...]], "row_headers", "note"}``
    (cells as text; the first ``row_headers`` cells of a row label it)."""
    out = [f"<table><caption>{html.escape(str(table.get('title', '')))}</caption><thead><tr>"]
    out.extend(f"<th>{html.escape(str(c))}</th>" for c in table["columns"])
    out.append("</tr></thead><tbody>")
    for row in table["rows"]:
        cells = [str(c) for c in row]
        head = int(table.get("row_headers", 1))
        out.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cells[:head]))
        out.extend(f"<td>{html.escape(c)}</td>" for c in cells[head:])
        out.append("</tr>")
    out.append("</tbody></table>")
    if table.get("note"):
        out.append(f'<p class="note">{html.escape(str(table["note"]))}</p>')
    return "".join(out)


def _load_story(run: RunDir) -> dict[str, Any] | None:
    """``story.json`` of the run (written by the demo), or None; ValueError if it is broken."""
    path = run.path / "story.json"
    if not path.is_file():
        return None
    story = load_json(path, run.path)
    if not isinstance(story, dict) or not isinstance(story.get("sections"), list):
        raise ValueError(f"{path}: expected an object with a 'sections' list")
    return story


def _config_html(run: RunDir, what: str) -> list[str]:
    if not run.config_path.is_file():
        return []
    text = run.read_text(run.config_path)
    return [
        "<h2>Configuration</h2>",
        f"<details><summary>{html.escape(what)} ({len(text.splitlines())} lines; click to "
        f"open)</summary><pre>{html.escape(text)}</pre></details>",
    ]


def _story_body(run: RunDir, story: Mapping[str, Any], title: str) -> list[str]:
    """The page of a run with a story: sections (text, key result, table), figures by section,
    the configuration folded, the commands."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    body.append(f'<p class="meta">pcml {html.escape(__version__)}</p>')
    if story.get("lead"):
        body.append(f'<p class="lead">{html.escape(str(story["lead"]))}</p>')
    for sec in story["sections"]:
        body.append(f'<section id="{html.escape(str(sec.get("id", "")))}">')
        body.append(f"<h2>{html.escape(str(sec['heading']))}</h2>")
        body.extend(f'<p class="story">{html.escape(str(t))}</p>' for t in sec.get("text", ()))
        if sec.get("key_result"):
            body.append(
                f'<p class="key"><strong>Key result.</strong> {html.escape(str(sec["key_result"]))}'
                "</p>"
            )
        if sec.get("table"):
            body.append(_story_table(sec["table"]))
        body.append("</section>")
    pngs = {p.stem: p for p in sorted(run.figures.glob("*.png"))} if run.figures.is_dir() else {}
    captions = run.captions()
    shown: list[tuple[str, list[str]]] = [
        (str(sec["heading"]), [f for f in sec.get("figures", ()) if f in pngs])
        for sec in story["sections"]
    ]
    listed = {f for _, figs in shown for f in figs}
    shown.append(("Other figures", [f for f in pngs if f not in listed]))
    if pngs:
        body.append("<h2>Figures</h2>")
        number = 0
        for heading, figs in shown:
            if figs:
                body.append(f"<h3>{html.escape(heading)}</h3>")
            for stem in figs:
                number += 1
                caption = captions.get(stem, stem.replace("_", " "))
                body.append(_figure_html(pngs[stem], caption, number))
    body.extend(_config_html(run, "config.toml: the resolved configuration of every part"))
    body.append("<h2>Reproduce</h2>")
    commands = list(story.get("commands", ()))
    if not commands and run.command is not None:
        commands = [["This run", run.command]]
    for what, cmd in commands:
        body.append(
            f"<p>{html.escape(str(what))}:</p><pre><code>{html.escape(str(cmd))}</code></pre>"
        )
    if story.get("reproducibility"):
        body.append(f'<p class="note">{html.escape(str(story["reproducibility"]))}</p>')
    links = story.get("links", ())
    if links:
        items = "".join(
            f'<li><a href="{html.escape(str(href))}">{html.escape(str(label))}</a></li>'
            for label, href in links
            if not re.match(r"[a-z][a-z0-9+.-]*:|//", str(href), re.IGNORECASE)
        )
        body.append(f"<p>Full run reports (every metric, figure and log):</p><ul>{items}</ul>")
    return body


def build_report(run_dir: Path | str, title: str | None = None) -> Path:
    """Write ``run_dir/report.html`` from the run's files and return its path.

    A run directory with a ``story.json`` (the demo) gets its story page: one section per
    problem, figures, configuration, commands (:func:`_story_body`); any other run the generic
    page: summary table, metric tables, training, figures, configuration, command. The page
    depends only on the files of the run directory (no path, no time), so rebuilding it with
    ``pcml report DIR`` reproduces it byte for byte.

    Raises ``FileNotFoundError`` when ``run_dir`` has no ``metrics.json``.
    """
    run = RunDir(run_dir, create=False)
    if not run.metrics_path.is_file():
        raise FileNotFoundError(
            f"{run.path} has no metrics.json; is it a pcml run directory (finished run)?"
        )
    try:
        metrics = run.read_metrics()
    except json.JSONDecodeError as err:
        raise ValueError(f"{run.metrics_path} is not valid JSON: {err}") from err
    story = _load_story(run)
    if story is not None:
        title = title or str(story.get("title") or f"pcml run: {run.path.resolve().name}")
        body = _story_body(run, story, title)
    else:
        title = title or f"pcml run: {run.path.resolve().name}"
        body = _generic_body(run, metrics, title)
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script>\n</body></html>\n"
    )
    return write_text_atomic(run.report_path, page)


def _generic_body(run: RunDir, metrics: Mapping[str, Any], title: str) -> list[str]:
    """Summary table (table.md), metric tables (folded when table.md exists), training,
    figures, configuration (folded), the command."""
    body = [f"<h1>{html.escape(title)}</h1>"]
    body.append(f'<p class="meta">pcml {html.escape(__version__)}</p>')
    has_md = run.table_path.is_file()
    if has_md:
        body.append("<h2>Summary table</h2>")
        body.append(_markdown_to_html(run.read_text(run.table_path)))
    tables = metric_tables(metrics)
    body.append("<h2>Metrics</h2>")
    if has_md:
        body.append("<details><summary>Every metric of metrics.json (click to open)</summary>")
    body.extend(_html_table(t) for t in tables)
    if not tables:
        body.append("<p>(metrics.json is empty)</p>")
    if has_md:
        body.append("</details>")
    if run.logs.is_dir():
        training = _training_tables(run.logs)
        if training:
            body.append("<h2>Training</h2>")
            body.extend(_html_table(t) for t in training)
    figures = sorted(run.figures.glob("*.png")) if run.figures.is_dir() else []
    if figures:
        captions = run.captions()
        body.append("<h2>Figures</h2>")
        for number, fig in enumerate(figures, 1):
            caption = captions.get(fig.stem, fig.stem.replace("_", " "))
            body.append(_figure_html(fig, caption, number))
    body.extend(_config_html(run, "config.toml: the resolved configuration"))
    if run.command is not None:
        body.append("<h2>Reproduce</h2>")
        body.append(f"<pre><code>{html.escape(run.command)}</code></pre>")
    return body


__all__ = [
    "MetricTable",
    "build_report",
    "format_number",
    "format_value",
    "metric_tables",
    "write_markdown_table",
]
