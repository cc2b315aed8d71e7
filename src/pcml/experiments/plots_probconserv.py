"""Figures of a ProbConserv run, like the article's (matplotlib Agg, imported lazily).

From ``curves.json``, ``profiles.json`` and ``shocks.json`` of a run directory:

- ``fig_profile.png``: the solution u(x, t*) with each method's mean ± 3σ, one row per test value
  and one column per method, for the same test function as the shock figure;
- ``fig_shock.png``: histograms of the shock-position posterior with the true front (problems
  with a front only);
- ``fig_mass.png``: total mass ∫u dx of every method's mean over time, with the exact b(t);
- ``fig_mse_time.png``: MSE of the mean over time.

Every caption is computed from the plotted data (:mod:`.probconserv_captions`): it states what
the figure shows for the method and, with the measured number, what it shows against it (e.g.
where ProbConserv's MSE is higher than its backbone's). Style: :mod:`pcml.experiments._style`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pcml.experiments._style import DPI, MAX_WIDTH_IN, figure_style, line_style, param_label
from pcml.experiments.probconserv_captions import (
    DIRICHLET,
    baseline_of,
    mass_caption,
    methods_of,
    mse_caption,
    physical_bounds,
    profile_caption,
    shock_caption,
)
from pcml.experiments.rundir import RunDir

__all__ = ["PROFILE_METHODS", "baseline_of", "plot_all", "profile_methods"]

#: Methods shown in the profile figure, in order; the bounded ProbConserv variant replaces the
#: mass-only one where a run has it (fallback: ``probconserv_anp``).
PROFILE_METHODS = ("anp", "probconserv_anp", "probconserv_anp_bounded")


def _load(out: Path, name: str) -> dict[str, Any]:
    with open(out / f"{name}.json", encoding="utf-8") as fh:
        return dict(json.load(fh))


def profile_methods(available: Sequence[str]) -> list[str]:
    """The columns of the profile figure: every method, except that the mass-only
    ProbConserv-ANP is dropped when the bounded variant is there (the bounded one is the
    method to show; the mass-only one stays in the other figures and tables)."""
    keep = list(available)
    if "probconserv_anp_bounded" in keep and "probconserv_anp" in keep:
        keep.remove("probconserv_anp")
    return keep


def _t_star(out: Path, problem: str) -> float | None:
    """t* of the run: ``[problem] t_star`` of its config.toml if set, else the registry's."""
    import tomllib

    try:
        saved = tomllib.loads((out / "config.toml").read_text(encoding="utf-8"))
        section = saved.get("problem")
        if isinstance(section, dict) and isinstance(section.get("t_star"), int | float):
            return float(section["t_star"])
    except (OSError, tomllib.TOMLDecodeError):
        pass
    try:
        from pcml.pdes.gpme import get_problem

        return float(get_problem(problem).t_star)
    except (KeyError, ValueError):
        return None


def plot_all(
    out: str | Path, problem: str, param_name: str | None = None, t_star: float | None = None
) -> list[Path]:
    """Write the figures into the run directory ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    if t_star is None:
        t_star = _t_star(out, problem)
    curves, profiles, shocks = _load(out, "curves"), _load(out, "profiles"), _load(out, "shocks")
    label = param_label(param_name or "θ")
    name = problem.capitalize() if problem == "stefan" else problem
    values = list(curves)
    written: list[Path] = []
    rd = RunDir(out)

    def save(fig: Any, stem: str, caption: str) -> None:
        written.append(rd.save_figure(fig, stem, caption, dpi=DPI))
        plt.close(fig)

    with figure_style():
        width = min(MAX_WIDTH_IN, 4.6 * len(values))
        for stem, ylabel, key in (
            ("fig_mass.png", "total mass ∫u dx", "mass"),
            ("fig_mse_time.png", "MSE over x", "mse"),
        ):
            fig, axes = plt.subplots(1, len(values), figsize=(width, 3.8), squeeze=False)
            for ax, v in zip(axes[0], values, strict=True):
                c = curves[v]
                for m in methods_of(c):
                    ax.plot(c["t"], c[m][key], **line_style(m))
                if key == "mass":
                    ax.plot(c["t"], c["true_mass"], "k--", lw=1.4, zorder=5, label="exact b(t)")
                else:
                    ax.set_yscale("log")
                    if t_star is not None:
                        ax.axvline(t_star, color="k", ls=":", lw=1)
                ax.set(title=f"{label} = {v}", xlabel="time t", ylabel=ylabel)
            axes[0][-1].legend()
            fig.tight_layout()
            caption = (
                mass_caption(name, label, curves)
                if key == "mass"
                else mse_caption(name, label, curves, t_star)
            )
            save(fig, stem, caption)

        methods = profile_methods(methods_of(profiles[values[0]]))
        lo, hi = physical_bounds(problem)
        # values × methods; with more than 3 methods, methods × values (panels stay readable)
        wide = len(methods) <= 3
        grid = (len(values), len(methods)) if wide else (len(methods), len(values))
        fig, axes = plt.subplots(
            *grid,
            figsize=(min(MAX_WIDTH_IN, 3.5 * grid[1]), 3.0 * grid[0]),
            squeeze=False,
            sharex=True,
            sharey=True,
        )
        for i, v in enumerate(values):
            p = profiles[v]
            for j, m in enumerate(methods):
                r, c = (i, j) if wide else (j, i)
                ax = axes[r][c]
                style = line_style(m)
                mean, std = np.asarray(p[m]["mean"]), np.asarray(p[m]["std"])
                ax.fill_between(
                    p["x"], mean - 3 * std, mean + 3 * std, color=style["color"], alpha=0.25, lw=0
                )
                ax.plot(p["x"], p["truth"], "k-", lw=1.2, label="truth")
                ax.plot(p["x"], mean, color=style["color"], label=f"{style['label']} mean")
                for bound in (lo, hi):
                    if bound is not None:
                        ax.axhline(bound, color="k", ls=":", lw=0.8)
                if problem in DIRICHLET:
                    x0, u0 = DIRICHLET[problem]
                    ax.plot([x0], [u0], "k*", ms=10, clip_on=False, label=f"u({x0:g}, t) = {u0:g}")
                ax.set_title(f"{style['label']}, {label} = {v}")
                if r == grid[0] - 1:
                    ax.set_xlabel("x")
                if c == 0:
                    ax.set_ylabel("u(x, t*)")
                if r == 0 or not wide:
                    ax.legend(loc="upper right", fontsize=9)
        fig.tight_layout()
        save(fig, "fig_profile.png", profile_caption(problem, name, label, profiles, methods))

        if any(len(s) > 2 for s in shocks.values()):
            fig, axes = plt.subplots(1, len(values), figsize=(width, 3.8), squeeze=False)
            for ax, v in zip(axes[0], values, strict=True):
                s = shocks[v]
                top = max(max(s[m]) for m in methods_of(s))
                hi_x = min(float(profiles[v]["x"][-1]), max(0.5, top + 0.05))
                for m in methods_of(s):
                    ax.hist(
                        s[m],
                        bins=40,
                        range=(float(profiles[v]["x"][0]), hi_x),
                        weights=[1.0 / len(s[m])] * len(s[m]),
                        histtype="step",
                        lw=1.8,
                        **line_style(m),
                    )
                ax.axvline(s["front"], color="k", lw=2, label="true front")
                ax.set(
                    title=f"{label} = {v}", xlabel="shock position x", ylabel="fraction of samples"
                )
            axes[0][-1].legend()
            fig.tight_layout()
            save(fig, "fig_shock.png", shock_caption(name, label, shocks))
    return written
