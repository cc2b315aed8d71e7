"""Figures of a ProbConserv run, like the article's (matplotlib Agg, imported lazily).

From ``curves.json``, ``profiles.json`` and ``shocks.json`` of a run directory:

- ``fig_mass.png``: total mass ∫u dx of every method's mean over time, with the true b(t);
- ``fig_profile.png``: the solution profile at t* with ±3σ bands, one panel per method;
- ``fig_shock.png``: histograms of the shock-position posterior with the true front (problems
  with a front only);
- ``fig_mse_time.png``: MSE of the mean over time.

One row per test-parameter value.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pcml.experiments.rundir import RunDir

__all__ = ["plot_all"]

_STYLE = {
    "anp": ("tab:blue", "-"),
    "softc_anp": ("tab:orange", "-"),
    "hardc_anp": ("tab:green", "--"),
    "probconserv_anp": ("tab:red", "-"),
    "probconserv_anp_noisy": ("tab:pink", ":"),
    "ensemble": ("tab:purple", "-"),
    "probconserv_ensemble": ("tab:brown", "--"),
    "gp": ("tab:gray", "-"),
    "probconserv_gp": ("tab:olive", "--"),
}


_CAPTIONS = {
    "fig_mass.png": "{problem}: total mass of each method's mean over time (black: exact b(t)); "
    "curves over the first test functions of each value on the coarse time grid",
    "fig_mse_time.png": "{problem}: MSE of each method's mean over time",
    "fig_profile.png": "{problem}: solution at t* (black) and each method's mean ± 3σ, "
    "test function 1 of each value",
    "fig_shock.png": "{problem}: shock-position posterior at t* from exact samples of each "
    "method's predictive distribution (true variances), test function 1; black: true front",
}


def _load(out: Path, name: str) -> dict[str, Any]:
    with open(out / f"{name}.json", encoding="utf-8") as fh:
        return dict(json.load(fh))


def _methods(block: dict[str, Any]) -> list[str]:
    return [k for k in block if k in _STYLE]


def plot_all(out: str | Path, problem: str, param_name: str | None = None) -> list[Path]:
    """Write the figures into the run directory ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    curves, profiles, shocks = _load(out, "curves"), _load(out, "profiles"), _load(out, "shocks")
    label = param_name or "θ"
    values = list(curves)
    written: list[Path] = []

    rd = RunDir(out)

    def save(fig: Any, name: str) -> None:
        written.append(rd.save_figure(fig, name, _CAPTIONS[name].format(problem=problem), dpi=90))
        plt.close(fig)

    for name, ylabel, key in (
        ("fig_mass.png", "total mass of the mean", "mass"),
        ("fig_mse_time.png", "MSE over x", "mse"),
    ):
        fig, axes = plt.subplots(1, len(values), figsize=(5 * len(values), 3.6), squeeze=False)
        for ax, v in zip(axes[0], values, strict=True):
            c = curves[v]
            if key == "mass":
                ax.plot(c["t"], c["true_mass"], "k-", lw=3, alpha=0.4, label="truth b(t)")
            for m in _methods(c):
                color, ls = _STYLE[m]
                ax.plot(c["t"], c[m][key], color=color, ls=ls, label=m)
            if key == "mse":
                ax.set_yscale("log")
            ax.set_title(f"{problem}, {label} = {v}")
            ax.set_xlabel("t")
            ax.set_ylabel(ylabel)
        axes[0][-1].legend(fontsize=7)
        save(fig, name)

    methods = _methods(profiles[values[0]])
    fig, axes = plt.subplots(
        len(values), len(methods), figsize=(2.8 * len(methods), 2.6 * len(values)), squeeze=False
    )
    for r, v in enumerate(values):
        p = profiles[v]
        for c, m in enumerate(methods):
            ax = axes[r][c]
            color, _ = _STYLE[m]
            mean, std = p[m]["mean"], p[m]["std"]
            lo = [a - 3 * s for a, s in zip(mean, std, strict=True)]
            hi = [a + 3 * s for a, s in zip(mean, std, strict=True)]
            ax.fill_between(p["x"], lo, hi, color=color, alpha=0.25, lw=0)
            ax.plot(p["x"], p["truth"], "k-", lw=1)
            ax.plot(p["x"], mean, color=color, lw=1.2)
            ax.set_title(f"{m}\n{label} = {v}", fontsize=8)
            ax.tick_params(labelsize=7)
    fig.tight_layout()
    save(fig, "fig_profile.png")

    if any(len(s) > 2 for s in shocks.values()):
        fig, axes = plt.subplots(1, len(values), figsize=(5 * len(values), 3.6), squeeze=False)
        for ax, v in zip(axes[0], values, strict=True):
            s = shocks[v]
            for m in _methods(s):
                color, _ = _STYLE[m]
                lo, hi = profiles[v]["x"][0], profiles[v]["x"][-1]
                weights = [1.0 / len(s[m])] * len(s[m])
                ax.hist(
                    s[m],
                    bins=100,
                    range=(lo, hi),
                    weights=weights,
                    histtype="step",
                    color=color,
                    label=m,
                )
            ax.axvline(s["front"], color="k", lw=2, label="true front")
            ax.set_title(f"shock position at t*, {label} = {v}")
            ax.set_xlabel("x")
            ax.set_ylabel("fraction of samples")
        axes[0][-1].legend(fontsize=7)
        save(fig, "fig_shock.png")
    return written
