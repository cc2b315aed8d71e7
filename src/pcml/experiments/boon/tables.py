"""Markdown tables of one BOON run (``table.md``): 1-D and 2-D layouts, per-split columns.

:func:`metric_rows` is shared by the run tables and the study tables
(:mod:`pcml.experiments.boon.study`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.boon.data2d import FACES

__all__ = ["format_table", "format_table_2d", "metric_rows", "with_train_seconds"]


_COLUMNS = (
    ("rel_l2", "rel. L2"),
    ("rel_l2_near_boundary", "rel. L2 near bdy"),
    ("boundary_error", "bdy err (mean)"),
    ("boundary_error_max", "bdy err (max)"),
    ("boundary_error_hi_order", "flux err 6th-order"),
    ("rel_l2_at_2x_resolution", "rel. L2 @2x"),
    ("boundary_error_max_at_2x_resolution", "bdy err max @2x"),
    ("train_s", "train s"),
)


def metric_rows(
    metrics: Mapping[str, Mapping[str, Any]], cols: Sequence[tuple[str, str]]
) -> list[str]:
    """Markdown header and one row per model for the metric columns ``cols`` = (key, title);
    rel. L2 with its standard error, training seconds as integers, "–" where a metric is absent.
    """
    lines = ["| model | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for key, m in metrics.items():
        cells = []
        for name, _ in cols:
            v = m.get(name)
            if v is None:
                cells.append("–")
            elif name == "rel_l2":
                cells.append(f"{v:.4g} ± {m.get('rel_l2_se', 0.0):.2g}")
            else:
                cells.append(f"{v:.0f}" if name == "train_s" else f"{v:.3g}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def with_train_seconds(
    metrics: Mapping[str, Mapping[str, Any]], timings: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """``metrics`` with each model's ``train_s`` added from the stage ``timings`` (for the
    table only: training seconds are wall-clock and live in details.json, not in metrics.json,
    so that identical runs write identical metrics.json)."""
    return {
        k: {**m, **({"train_s": timings[f"train_{k}_s"]} if f"train_{k}_s" in timings else {})}
        for k, m in metrics.items()
    }


def format_table(
    cfg: BoonConfig,
    metrics: Mapping[str, Mapping[str, float]],
    details: Mapping[str, Any],
    command: str = "",
) -> str:
    """Markdown table of ``metrics`` with the case, task, BC provenance and stage timings."""
    task = "multi-step (u0 -> 25 frames)" if cfg.multi_step else "single-step (u0 -> u(t1))"
    t = details.get("timings_s", {})
    metrics = with_train_seconds(metrics, t)
    cols = [c for c in _COLUMNS if any(c[0] in m for m in metrics.values())]
    lines = [
        f"# BOON: {cfg.case}, {task}, profile {cfg.profile}",
        "",
        *([f"Command: `{command}`", ""] if command else []),
        f"Boundary data: {details['bc_source']}",
        "",
        f"Test set: the last {cfg.data.n_test} of {cfg.data.n_train + cfg.data.n_test} "
        "trajectories; relative L2 = mean over test samples of ||pred - true|| / ||true||.",
        "",
        *metric_rows(metrics, cols),
    ]
    lines += ["", "Stage times (s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in t.items())]
    return "\n".join(lines) + "\n"


def format_table_2d(
    cfg: BoonConfig, metrics: Mapping[str, Mapping[str, Any]], details: Mapping[str, Any],
    command: str = "",
) -> str:  # fmt: skip
    """Markdown: summary table, per-frame relative L2 table, BC provenance, stage times."""
    cols = [
        ("rel_l2", "rel. L2"),
        ("vorticity_rel_l2", "vorticity rel. L2"),
        ("rel_l2_near_boundary", "rel. L2 near walls"),
        ("boundary_error", "bdy err (mean)"),
        ("boundary_error_max", "bdy err (max)"),
        ("boundary_error_hi_order", "flux err 6th-order"),
        ("rel_l2_at_2x_resolution", "rel. L2 @2x"),
        ("boundary_error_max_at_2x_resolution", "bdy err max @2x"),
        ("train_s", "train s"),
    ]
    metrics = with_train_seconds(metrics, details.get("timings_s", {}))
    cols = [c for c in cols if any(c[0] in m for m in metrics.values())]
    n = cfg.data.n_x
    lines = [
        f"# BOON 2-D: {cfg.case}, u0 -> 25 frames, profile {cfg.profile}",
        "",
        *([f"Command: `{command}`", ""] if command else []),
        f"Boundary data: {details['bc_source']}",
        "",
        f"Grid {n}x{n} nodes (walls included) x 25 frames; train {cfg.data.n_train}, test "
        f"{cfg.data.n_test} (independent draws); rel. L2 = test mean of "
        "||pred - true|| / ||true||.",
        "",
        *metric_rows(metrics, cols),
    ]
    keys = list(metrics)
    lines += ["", "Relative L2 per predicted frame:", ""]
    lines += ["| frame | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for k in range(len(next(iter(metrics.values()))["rel_l2_per_frame"])):
        cells = [f"{metrics[m]['rel_l2_per_frame'][k]:.4g}" for m in keys]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    paired = details.get("paired_per_frame", {})
    if paired:
        lines += ["", "Paired per-frame difference to the FNO (mean ± SE over test samples):", ""]
        lines += ["| frame | " + " | ".join(f"{k} − fno" for k in paired) + " |"]
        lines += ["|---|" + "---|" * len(paired)]
        for k in range(len(next(iter(paired.values()))["mean"])):
            cells = [f"{p['mean'][k]:+.4f} ± {p['se'][k]:.4f}" for p in paired.values()]
            lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    if "fno" in metrics:
        f = metrics["fno"]["rel_l2_per_frame"]
        lines.append("")
        for key in (k for k in keys if k.startswith("boon")):
            b = metrics[key]["rel_l2_per_frame"]
            wins = sum(bb <= ff for bb, ff in zip(b, f, strict=True))
            name = "BOON" if key == "boon" else key
            lines.append(f"{name} rel. L2 <= FNO rel. L2 at {wins} of {len(f)} frames.")
    scaling = details.get("increment_scaling")
    if details.get("residual_in_time"):
        lines += [
            "",
            f"Every model predicts the increment u(t) - u(0); increment scaling: {scaling}.",
        ]
    floor = details.get("data_floor", {})
    if floor:
        lines += ["", "Truth scored by the same metrics (floors): "]
        lines[-1] += ", ".join(
            f"{k} {v:.3g}" for k, v in floor.items() if not any(f in k for f in FACES)
        )
    t = details.get("timings_s", {})
    lines += ["", "Stage times (s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in t.items())]
    return "\n".join(lines) + "\n"
