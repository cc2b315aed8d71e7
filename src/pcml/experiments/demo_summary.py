"""The demo's summary: headline numbers of the Stefan (ProbConserv) and heat (BOON) parts.

:func:`summary_metrics` picks them from the two runs' metrics.json; :func:`summary_rows` and
:func:`format_summary` turn them into the terminal table that README.md shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["STEFAN_VALUE", "SummaryRow", "format_summary", "summary_metrics", "summary_rows"]

#: Stefan test value shown in the summary (the article's u* = 0.6, t* = 0.05).
STEFAN_VALUE = "0.6"


@dataclass(frozen=True)
class SummaryRow:
    """One line of the summary: ``problem``, ``model``, ``metric`` label and its ``value``
    (``spread``: a ± value, e.g. the posterior sd of the shock position)."""

    problem: str
    model: str
    metric: str
    value: float | None
    spread: float | None = None


_STEFAN_MODELS = {
    "anp": "ANP",
    "probconserv_anp": "ProbConserv-ANP",
    "probconserv_anp_bounded": "Bounded ProbConserv-ANP",  # when the run has it (issue 15)
}
_HEAT_MODELS = {"fno": "FNO", "boon": "BOON"}


def summary_metrics(
    stefan: Mapping[str, Any], heat: Mapping[str, Any], true_front: float
) -> dict[str, dict[str, dict[str, float | None]]]:
    """The demo's metrics.json: the headline numbers of both parts' metrics.json.

    ``stefan``: ProbConserv metrics (``{value: {method: {...}}}``); ``heat``: BOON metrics
    (``{model: {...}}``); ``true_front``: x*(t*) of the Stefan test value.
    """
    rows = stefan[STEFAN_VALUE]
    return {
        "stefan": {
            key: {
                "ce": rows[key]["ce"],
                "mse": rows[key]["mse"],
                "shock_mean": rows[key]["shock_mean"],
                "shock_std": rows[key]["shock_std"],
                "true_front": true_front,
            }
            for key in _STEFAN_MODELS
            if key in rows
        },
        "heat": {
            key: {
                "flux_error_x0": heat[key]["boundary_error_x_lower"],
                "flux_error_x1": heat[key]["boundary_error_x_upper"],
                "rel_l2": heat[key]["rel_l2"],
            }
            for key in _HEAT_MODELS
            if key in heat
        },
    }


def summary_rows(metrics: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[SummaryRow]:
    """The terminal summary of :func:`summary_metrics`'s output, one metric per row."""
    out: list[SummaryRow] = []
    stefan = f"Stefan (u* = {STEFAN_VALUE}, t* = 0.05)"
    for key, name in _STEFAN_MODELS.items():
        m = metrics["stefan"].get(key)
        if m is None:
            continue
        out.append(SummaryRow(stefan, name, "conservation error CE", m["ce"]))
        out.append(SummaryRow(stefan, name, "MSE", m["mse"]))
        out.append(
            SummaryRow(
                stefan,
                name,
                f"shock position (true {m['true_front']:.4f})",
                m["shock_mean"],
                m["shock_std"],
            )
        )
    heat = "Heat, insulator at x = 0"
    for key, name in _HEAT_MODELS.items():
        m = metrics["heat"].get(key)
        if m is None:
            continue
        out.append(SummaryRow(heat, name, "flux error at x = 0 (insulator)", m["flux_error_x0"]))
        out.append(SummaryRow(heat, name, "flux error at x = 1 (heater)", m["flux_error_x1"]))
        out.append(SummaryRow(heat, name, "relative L2", m["rel_l2"]))
    return out


def _num(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if v == 0:
        return "0"
    return f"{v:.4f}" if 1e-3 <= abs(v) < 1e3 else f"{v:.2e}"


def format_summary(rows: Sequence[SummaryRow]) -> str:
    """A Markdown pipe table ``| problem | model | metric | value |`` padded for a terminal."""
    table = [("problem", "model", "metric", "value")]
    for r in rows:
        value = _num(r.value) + ("" if r.spread is None else f" ± {_num(r.spread)}")
        table.append((r.problem, r.model, r.metric, value))
    widths = [max(len(row[i]) for row in table) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        padded = [
            c.rjust(w) if i == 3 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i == 3 else "-") for i, w in enumerate(widths))
    return "\n".join([line(table[0]), rule + "|", *(line(c) for c in table[1:])]) + "\n"
