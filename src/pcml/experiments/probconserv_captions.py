"""Captions of the ProbConserv figures, computed from the plotted data (:mod:`.plots_probconserv`).

Each caption states what its figure shows for the method and, with the measured number, what it
shows against it: where a method breaks the boundary value or the physical bounds, how much mass
the conditioning moved and where, where its MSE is above its backbone's, whether its shock
position is closer to the true front.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pcml.experiments._style import display_name

__all__ = [
    "DIRICHLET",
    "NOT_METHODS",
    "baseline_of",
    "mass_caption",
    "methods_of",
    "mse_caption",
    "physical_bounds",
    "profile_caption",
    "shock_caption",
]

# Physical bounds of u per problem (dotted lines), used where the problem registry does not
# declare ``bounds`` (issue 15 adds them there; :func:`_bounds` prefers the registry's).
_BOUNDS: dict[str, tuple[float | None, float | None]] = {"stefan": (0.0, 1.0), "pme": (0.0, None)}
# Dirichlet values u(x0, t) = value shown as a star: {problem: (x0, value)}.
DIRICHLET = {"stefan": (0.0, 1.0)}


NOT_METHODS = frozenset({"x", "t", "truth", "true_mass", "front", "function"})


def methods_of(block: dict[str, Any]) -> list[str]:
    """The method keys of one value's block (the other keys are the grid, truth and labels)."""
    return [k for k in block if k not in NOT_METHODS]


def baseline_of(method: str) -> str | None:
    """The backbone a ProbConserv method corrects: ``probconserv_anp_bounded`` → ``anp``."""
    if not method.startswith("probconserv_"):
        return None
    base = method.removeprefix("probconserv_")
    for suffix in ("_bounded", "_noisy"):
        base = base.removesuffix(suffix)
    return base


def physical_bounds(problem: str) -> tuple[float | None, float | None]:
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


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


def profile_caption(
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
    lo, hi = physical_bounds(problem)
    for m in methods:
        mean = np.asarray(p[m]["mean"])
        facts = [f"u(0, t*) = {_fmt(mean[0])}", f"{_fmt(mean.min())} ≤ u ≤ {_fmt(mean.max())}"]
        broken = []
        if problem in DIRICHLET and abs(mean[0] - DIRICHLET[problem][1]) > 1e-5:
            broken.append(f"the boundary condition u(0, t) = {DIRICHLET[problem][1]:g}")
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
    hidden = [m for m in methods_of(p) if m not in methods and m in ("probconserv_anp",)]
    for m in hidden:
        mean = np.asarray(p[m]["mean"])
        parts.append(
            f"Not shown: {display_name(m)} (mass row only) has u(0, t*) = {_fmt(mean[0])} and "
            f"{_fmt(mean.min())} ≤ u ≤ {_fmt(mean.max())}."
        )
    return " ".join(parts)


def shock_caption(problem: str, label: str, shocks: dict[str, Any]) -> str:
    out = [
        f"{problem}: the shock-position posterior at t* from exact samples of each method's "
        "predictive distribution (same test functions as the profile figure); black: the true "
        "front."
    ]
    for v, s in shocks.items():
        front = float(s["front"])
        stats = {m: (float(np.mean(s[m])), float(np.std(s[m]))) for m in methods_of(s)}
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


def mass_caption(problem: str, label: str, curves: dict[str, Any]) -> str:
    out = [
        f"{problem}: total mass ∫u dx of each method's mean over time, mean over the first test "
        "functions of each value on the coarse time grid; black dashed (drawn on top): the exact "
        "mass b(t)."
    ]
    for v, c in curves.items():
        true = np.asarray(c["true_mass"])
        errs = {m: float(np.max(np.abs(np.asarray(c[m]["mass"]) - true))) for m in methods_of(c)}
        out.append(
            f"Largest |mass − b(t)| ({label} = {v}): "
            + ", ".join(
                f"{display_name(m)} " + (_fmt(e) if e >= 1e-7 else "0 to the 8 digits stored")
                for m, e in errs.items()
            )
            + "."
        )
    return " ".join(out)


def mse_caption(problem: str, label: str, curves: dict[str, Any], t_star: float | None) -> str:
    out = [f"{problem}: MSE of each method's mean over time (same functions as the mass figure)."]
    for v, c in curves.items():
        t = np.asarray(c["t"])
        for m in methods_of(c):
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
