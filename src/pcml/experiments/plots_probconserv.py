"""Figures of a ProbConserv run, like the article's (matplotlib Agg, imported lazily).

From ``curves.json``, ``profiles.json`` and ``shocks.json`` of a run directory:

- ``fig_profile.png``: the solution u(x, t*) with each method's mean ± 3σ, one row per test value
  and one column per method, for the same test function as the shock figure;
- ``fig_shock.png``: histograms of the shock-position posterior with the true front (problems
  with a front only);
- ``fig_mass.png``: total mass ∫u dx of every method's mean over time, with the exact b(t);
- ``fig_mse_time.png``: MSE of the mean over time.

Every caption is computed from the plotted data: it states what the figure shows for the method
and, with the measured number, what it shows against it (e.g. where ProbConserv's MSE is higher
than its backbone's). Style: :mod:`pcml.experiments._style`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pcml.experiments._style import (
    DPI,
    MAX_WIDTH_IN,
    display_name,
    figure_style,
    line_style,
    param_label,
)
from pcml.experiments.rundir import RunDir

__all__ = ["PROFILE_METHODS", "baseline_of", "plot_all", "profile_methods"]

#: Methods shown in the profile figure, in order; the bounded ProbConserv variant replaces the
#: mass-only one where a run has it (fallback: ``probconserv_anp``).
PROFILE_METHODS = ("anp", "probconserv_anp", "probconserv_anp_bounded")

# Physical bounds of u per problem (dotted lines), used where the problem registry does not
# declare ``bounds`` (issue 15 adds them there; :func:`_bounds` prefers the registry's).
_BOUNDS: dict[str, tuple[float | None, float | None]] = {"stefan": (0.0, 1.0), "pme": (0.0, None)}
# Dirichlet values u(x0, t) = value shown as a star: {problem: (x0, value)}.
_DIRICHLET = {"stefan": (0.0, 1.0)}


_NOT_METHODS = frozenset({"x", "t", "truth", "true_mass", "front", "function"})


def _load(out: Path, name: str) -> dict[str, Any]:
    with open(out / f"{name}.json", encoding="utf-8") as fh:
        return dict(json.load(fh))


def _methods(block: dict[str, Any]) -> list[str]:
    """The method keys of one value's block (the other keys are the grid, truth and labels)."""
    return [k for k in block if k not in _NOT_METHODS]


def baseline_of(method: str) -> str | None:
    """The backbone a ProbConserv method corrects: ``probconserv_anp_bounded`` → ``anp``."""
    if not method.startswith("probconserv_"):
        return None
    base = method.removeprefix("probconserv_")
    for suffix in ("_bounded", "_noisy"):
        base = base.removesuffix(suffix)
    return base


def profile_methods(available: Sequence[str]) -> list[str]:
    """The columns of the profile figure: every method, except that the mass-only
    ProbConserv-ANP is dropped when the bounded variant is there (the bounded one is the
    method to show; the mass-only one stays in the other figures and tables)."""
    keep = list(available)
    if "probconserv_anp_bounded" in keep and "probconserv_anp" in keep:
        keep.remove("probconserv_anp")
    return keep


def _bounds(problem: str) -> tuple[float | None, float | None]:
    """(lower, upper) physical bounds of u: the registry's ``bounds`` if declared, else
    ``_BOUNDS``; (None, None) when unknown."""
    try:
        from pcml.pdes.gpme import get_problem

        declared = getattr(get_problem(problem), "bounds", None)
    except (KeyError, ValueError):
        declared = None
    if declared is not None and hasattr(declared, "lower"):
        return declared.lower, declared.upper
    return _BOUNDS.get(problem, (None, None))


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


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


def _profile_caption(
    problem: str, name: str, label: str, profiles: dict[str, Any], methods: list[str]
) -> str:
    values = list(profiles)
    v = values[-1]
    p = profiles[v]
    x = np.asarray(p["x"])
    parts = [
        f"{name}: the solution u(x, t*) (black) and each method's mean ± 3σ (shaded) at t*, for "
        f"test function {p['function']} ({label} = {v})"
        + (
            f" and test function {profiles[values[0]]['function']} ({label} = {values[0]})"
            if len(values) > 1
            else ""
        )
        + " (the same functions as the shock figure)."
    ]
    lo, hi = _bounds(problem)
    for m in methods:
        mean = np.asarray(p[m]["mean"])
        facts = [f"u(0, t*) = {_fmt(mean[0])}", f"{_fmt(mean.min())} ≤ u ≤ {_fmt(mean.max())}"]
        broken = []
        if problem in _DIRICHLET and abs(mean[0] - _DIRICHLET[problem][1]) > 1e-5:
            broken.append(f"the boundary condition u(0, t) = {_DIRICHLET[problem][1]:g}")
        if hi is not None and mean.max() > hi + 1e-5:
            broken.append(f"the bound u ≤ {hi:g}")
        if lo is not None and mean.min() < lo - 1e-5:
            broken.append(f"the bound u ≥ {lo:g}")
        text = f"{display_name(m)} ({label} = {v}): " + ", ".join(facts)
        text += f" — breaks {' and '.join(broken)}" if broken else " — within the physical limits"
        base = baseline_of(m)
        if base is not None and base in p:
            delta = mean - np.asarray(p[base]["mean"])
            sd = np.asarray(p[base]["std"])
            added = float(np.trapezoid(delta, x))
            ad = np.abs(delta)
            cum = np.concatenate([[0.0], np.cumsum(0.5 * (ad[1:] + ad[:-1]) * np.diff(x))])
            half = float(x[np.searchsorted(cum, 0.5 * cum[-1])]) if cum[-1] > 0 else float("nan")
            text += (
                f"; it adds {_fmt(added)} of mass to the {display_name(base)} mean, half of the "
                f"change |Δu| in x < {half:.2f}, where the {display_name(base)}'s σ is large "
                f"(largest at x = {float(x[int(np.argmax(sd))]):.2f}): the conditioning moves mass "
                "in proportion to the prior variance"
            )
            if m.endswith("_bounded"):
                text += (
                    ", except where the boundary row or a bound pins u; its shaded band is the "
                    "±3σ of the conditioned Gaussian, which the bounds (applied to the mean) do "
                    "not truncate"
                )
        parts.append(text + ".")
    hidden = [m for m in _methods(p) if m not in methods and m in PROFILE_METHODS]
    for m in hidden:
        mean = np.asarray(p[m]["mean"])
        parts.append(
            f"Not shown: {display_name(m)} (mass row only) has u(0, t*) = {_fmt(mean[0])} and "
            f"{_fmt(mean.min())} ≤ u ≤ {_fmt(mean.max())}."
        )
    return " ".join(parts)


def _shock_caption(problem: str, label: str, shocks: dict[str, Any]) -> str:
    out = [
        f"{problem}: the shock-position posterior at t* from exact samples of each method's "
        "predictive distribution (same test functions as the profile figure); black: the true "
        "front."
    ]
    for v, s in shocks.items():
        front = float(s["front"])
        stats = {m: (float(np.mean(s[m])), float(np.std(s[m]))) for m in _methods(s)}
        text = ", ".join(f"{display_name(m)} {mu:.3f} ± {sd:.3f}" for m, (mu, sd) in stats.items())
        out.append(f"{label} = {v}: true front {front:.3f}; {text}.")
        for m, (mu, sd) in stats.items():
            base = baseline_of(m)
            if base in stats:
                bmu, bsd = stats[base]
                closer = abs(mu - front) < abs(bmu - front)
                out.append(
                    f"{display_name(m)}'s mean is {'closer to' if closer else 'further from'} "
                    f"the front than the {display_name(base)}'s ({abs(mu - front):.3f} vs "
                    f"{abs(bmu - front):.3f}) and its spread is "
                    f"{'smaller' if sd < bsd else 'larger'}."
                )
    return " ".join(out)


def _mass_caption(problem: str, label: str, curves: dict[str, Any]) -> str:
    out = [
        f"{problem}: total mass ∫u dx of each method's mean over time, mean over the first test "
        "functions of each value on the coarse time grid; black dashed (drawn on top): the exact "
        "mass b(t)."
    ]
    for v, c in curves.items():
        true = np.asarray(c["true_mass"])
        errs = {m: float(np.max(np.abs(np.asarray(c[m]["mass"]) - true))) for m in _methods(c)}
        out.append(
            f"Largest |mass − b(t)| ({label} = {v}): "
            + ", ".join(
                f"{display_name(m)} " + (_fmt(e) if e >= 1e-7 else "0 to the 8 digits stored")
                for m, e in errs.items()
            )
            + "."
        )
    return " ".join(out)


def _mse_caption(problem: str, label: str, curves: dict[str, Any], t_star: float | None) -> str:
    out = [f"{problem}: MSE of each method's mean over time (same functions as the mass figure)."]
    for v, c in curves.items():
        t = np.asarray(c["t"])
        for m in _methods(c):
            base = baseline_of(m)
            if base is None or base not in c:
                continue
            a, b = np.asarray(c[m]["mse"]), np.asarray(c[base]["mse"])
            worse = t[a > b]
            name, bname = display_name(m), display_name(base)
            if worse.size == 0:
                out.append(f"{label} = {v}: {name} is below the {bname} at every time.")
                continue
            k = int(np.argmax(a - b))
            out.append(
                f"{label} = {v}: {name} is above the {bname} at {worse.size} of {t.size} times "
                f"(from t = {worse.min():.3g}; at t = {t[k]:.3g}: {_fmt(a[k])} vs {_fmt(b[k])}) — "
                "the exact mass does not make the shape right: the correction goes where the "
                f"{bname}'s variance is large (profile figure), not to the front."
            )
    if t_star is not None:
        out.append(f"Dotted line: t* = {t_star:g}, the time of the other figures.")
    return " ".join(out)


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
                for m in _methods(c):
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
                _mass_caption(name, label, curves)
                if key == "mass"
                else _mse_caption(name, label, curves, t_star)
            )
            save(fig, stem, caption)

        methods = profile_methods(_methods(profiles[values[0]]))
        lo, hi = _bounds(problem)
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
                if problem in _DIRICHLET:
                    x0, u0 = _DIRICHLET[problem]
                    ax.plot([x0], [u0], "k*", ms=10, clip_on=False, label=f"u({x0:g}, t) = {u0:g}")
                ax.set_title(f"{style['label']}, {label} = {v}")
                if r == grid[0] - 1:
                    ax.set_xlabel("x")
                if c == 0:
                    ax.set_ylabel("u(x, t*)")
                if r == 0 or not wide:
                    ax.legend(loc="upper right", fontsize=9)
        fig.tight_layout()
        save(fig, "fig_profile.png", _profile_caption(problem, name, label, profiles, methods))

        if any(len(s) > 2 for s in shocks.values()):
            fig, axes = plt.subplots(1, len(values), figsize=(width, 3.8), squeeze=False)
            for ax, v in zip(axes[0], values, strict=True):
                s = shocks[v]
                top = max(max(s[m]) for m in _methods(s))
                hi_x = min(float(profiles[v]["x"][-1]), max(0.5, top + 0.05))
                for m in _methods(s):
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
            save(fig, "fig_shock.png", _shock_caption(name, label, shocks))
    return written
