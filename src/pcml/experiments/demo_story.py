"""The demo report's story: what each problem is, its key result, and its metric tables.

:func:`demo_story` builds, from the two parts' metrics.json and configs, the JSON document that
:func:`pcml.experiments.report.build_report` renders when a run directory holds ``story.json``
(see that module): one section per problem with a paragraph (the PDE, the boundary or
conservation law, what is predicted, the parameters — all dimensionless), the key result in one
sentence whose numbers are read from the metrics, the section's figures, and its metric table
with human column names. Every number in the text is computed here, none is typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._style import display_name
from .report import format_number

__all__ = ["STORY_VERSION", "demo_story"]

#: Version of the story.json layout (report.py checks it).
STORY_VERSION = 1


def _n(v: Any) -> str:
    return "—" if v is None else format_number(float(v))


def _pm(v: Any, e: Any) -> str:
    return _n(v) if e is None or v is None else f"{_n(v)} ± {_n(e)}"


def _change(new: float, old: float) -> str:
    if not old:
        return "—"
    pct = 100 * (new - old) / old
    return f"{pct:+.0f} %" if abs(pct) >= 0.5 else "±0 %"


def _stefan_key(stefan: Mapping[str, Any], t_star: float) -> str:
    sentences = []
    explained = False
    for value, rows in stefan.items():
        a, p = rows.get("anp"), rows.get("probconserv_anp")
        if a is None or p is None:
            continue
        text = (
            f"u* = {value}: ProbConserv-ANP's conservation error is {_n(p['ce'])} against the "
            f"ANP's {_n(a['ce'])}, its MSE {_n(p['mse'])} against {_n(a['mse'])} "
            f"({_change(p['mse'], a['mse'])})"
        )
        bnd = rows.get("probconserv_anp_bounded")
        if bnd is not None:
            what = "" if explained else " (u(0, t*) = 1 and 0 ≤ u ≤ 1 enforced as well)"
            explained = True
            text += (
                f", and the bounded variant{what} has conservation error {_n(bnd['ce'])} and "
                f"MSE {_n(bnd['mse'])} ({_change(bnd['mse'], a['mse'])})"
            )
        sentences.append(text)
    return f"At t* = {t_star:g}, " + "; ".join(sentences) + "."


def _heat_key(heat: Mapping[str, Any]) -> str:
    f, b = heat.get("fno"), heat.get("boon")
    if f is None or b is None:
        return ""
    l2 = (b["rel_l2"], f["rel_l2"])
    text = (
        f"BOON's flux error at the insulator is {_n(b['boundary_error_x_lower'])} (round-off) "
        f"against the FNO's {_n(f['boundary_error_x_lower'])}, and its relative L2 error is "
        f"{_n(l2[0])} against {_n(l2[1])} ({_change(*l2)})"
    )
    b2, f2 = b.get("rel_l2_at_2x_resolution"), f.get("rel_l2_at_2x_resolution")
    if b2 is not None and f2 is not None:
        text += (
            f"; evaluated on a grid twice as fine, its relative L2 error ({_n(b2)}) is "
            f"{'above' if b2 > f2 else 'below'} the FNO's ({_n(f2)})"
        )
    return text + "."


def _stefan_table(stefan: Mapping[str, Any], t_star: float) -> dict[str, Any]:
    rows = []
    for value, methods in stefan.items():
        for key, m in methods.items():
            rows.append(
                [
                    value,
                    display_name(key),
                    _pm(m["ce"], m.get("ce_se")),
                    _pm(m["mse"], m.get("mse_se")),
                    _pm(m.get("ll"), m.get("ll_se")),
                    _pm(m.get("crps"), m.get("crps_se")),
                    _pm(m.get("shock_mean"), m.get("shock_std")),
                ]
            )
    return {
        "title": f"Stefan problem at t* = {t_star:g} (mean ± standard error over test functions)",
        "columns": [
            "u*",
            "method",
            "conservation error CE",
            "MSE of the mean",
            "log-likelihood per point",
            "CRPS",
            "shock position, mean ± sd",
        ],
        "rows": rows,
        "row_headers": 2,
        "note": (
            "CE = ∫μ dx − b(t*) (trapezoid rule, signed); MSE = mean over x of (μ − u)²; "
            "log-likelihood and CRPS of the Gaussian predictive distribution per grid point "
            "(higher and lower are better); shock position: mean ± sd of the front in samples "
            "of the predictive distribution. All quantities are dimensionless."
        ),
    }


def _heat_table(heat: Mapping[str, Any], orders: Sequence[int], hi_order: int) -> dict[str, Any]:
    rows = [
        [
            display_name(key),
            _n(m.get("boundary_error_x_lower")),
            _n(m.get("boundary_error_x_upper")),
            _n(m.get("boundary_error_hi_order_x_lower")),
            _pm(m.get("rel_l2"), m.get("rel_l2_se")),
            _n(m.get("rel_l2_at_2x_resolution")),
            _n(m.get("final_train_loss")),
        ]
        for key, m in heat.items()
    ]
    return {
        "title": "Heat with an insulator (test split)",
        "columns": [
            "model",
            "flux error at x = 0 (insulator)",
            "flux error at x = 1 (heater)",
            f"flux error at x = 0, order-{hi_order} estimate",
            "relative L2 error",
            "relative L2 error, 2× finer grid",
            "final training loss",
        ],
        "rows": rows,
        "row_headers": 1,
        "note": (
            f"Flux error = mean |Du − g| at the end node, D the one-sided stencil of order "
            f"{orders[0]} (x = 0) / {orders[1]} (x = 1) that BOON enforces, g the prescribed flux; "
            f"the order-{hi_order} estimate measures the continuous derivative ∂u/∂x instead, so "
            "it is not zero for BOON either. Relative L2 = ‖û − u‖/‖u‖ (± standard error); "
            "2× finer grid: the same trained models evaluated zero-shot on twice the nodes. "
            "Training loss: relative L2 on the training split, last epoch. All dimensionless."
        ),
    }


def _reproducibility() -> str:
    """What is machine-dependent, with this run's torch build and CPU."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return (
        f"This run: torch {torch.__version__}, {cpu}, one thread per part. Rerun on the same CPU "
        "type and torch build, the same seed gives bit-identical numbers; on another machine "
        "float32 rounds differently and the small models train to other optima, so the learned "
        "errors (MSE, shock position, relative L2) move within their seed spread (README: "
        "five seeds), while the exact results (ProbConserv's conservation error, BOON's flux "
        "errors) stay at round-off."
    )


def demo_story(
    cfg: Any,
    stefan: Mapping[str, Any],
    heat: Mapping[str, Any],
    figures: Mapping[str, Sequence[str]],
    commands: Sequence[tuple[str, str]],
) -> dict[str, Any]:
    """The story.json of the demo (module docstring).

    ``cfg``: the DemoConfig; ``stefan`` / ``heat``: the parts' metrics.json; ``figures``: {part:
    figure stems in reading order}; ``commands``: (what it does, shell command) pairs."""
    from pcml.pdes.boon_datasets import CASES as DATA_CASES
    from pcml.pdes.gpme import get_problem
    from pcml.pdes.heat_neumann import HeatNeumannProblem

    from .boon_eval import HI_ORDER

    s, h = cfg.stefan, cfg.heat
    prob = get_problem("stefan")
    lo, hi = prob.train_range
    outside = [v for v in prob.test_values if not lo <= v <= hi]
    methods = [display_name(m) for m in s.methods]
    bounded = "probconserv_anp_bounded" in s.methods
    stefan_text = (
        "The one-phase Stefan problem describes melting: u_t = ∂x(k(u) ∂x u) on 0 ≤ x ≤ 1 with "
        "k(u) = 1 where u ≥ u* and 0 elsewhere, u(x, 0) = 0 and a hot wall u(0, t) = 1. A sharp "
        "front (the shock) moves right as x*(t) = α√t, and the total mass obeys the conservation "
        "law ∫₀¹ u(x, t) dx = b(t) = 2c₁√(t/π) (α and c₁ depend on u*). An attentive neural "
        f"process (ANP, width {s.anp.hidden_channels}) is trained on {s.data.n_train} solutions "
        f"with u* drawn from [{lo:g}, {hi:g}]; given {s.data.n_t * s.data.n_x} observed points of "
        "a new solution it predicts u(x, t) as a Gaussian (mean and variance). ProbConserv "
        "conditions that Gaussian on the discretised law gᵀu = b(t*) (g: trapezoid weights on "
        f"{s.data.eval_n_x} nodes), which makes the predicted mass exact"
        + (
            "; the bounded variant adds the wall value u(0, t*) = 1 as a second constraint row "
            "and keeps 0 ≤ u ≤ 1"
            if bounded
            else ""
        )
        + f". Methods: {', '.join(methods)}. Tested at u* = "
        + " and ".join(f"{v:g}" for v in prob.test_values)
        + (
            f" ({', '.join(f'{v:g}' for v in outside)} outside the training range)"
            if outside
            else ""
        )
        + f" at t* = {prob.t_star:g}, {s.data.n_test_per_value} test functions each. x, t and u "
        "are dimensionless (length of the domain, wall temperature)."
    )
    spec = DATA_CASES["heat-neumann"]
    hp = spec.problem
    if not isinstance(hp, HeatNeumannProblem):  # pragma: no cover - registry invariant
        raise TypeError(f"heat-neumann data: expected a HeatNeumannProblem, got {hp!r}")
    heat_text = (
        f"Heat flows in a rod: u_t = k u_xx on 0 ≤ x ≤ 1 with k = {hp.diffusivity:g}; the end "
        f"x = 0 is an insulator, u_x(0, t) = 0, and a heater at x = 1 prescribes the flux "
        f"u_x(1, t) = U sin(πt), U = {hp.heater_amplitude:g}. Each sample starts from "
        f"u(x, 0) = cos(ωπx), ω drawn from [{hp.omega_min:g}, {hp.omega_max:g}]; the models map "
        f"u(x, 0) to u(x, T) at T = {spec.window.t_single:g} on {h.data.n_x} nodes. A plain "
        "Fourier neural operator (FNO) sees only u(x, 0); BOON is the same FNO whose kernels are "
        "corrected so that the prescribed fluxes hold by construction (it receives them). Both "
        f"are trained identically ({h.data.n_train} training and {h.data.n_test} test samples, "
        f"{h.train.epochs} epochs, width {h.model.hidden_channels}, {h.model.n_modes[0]} Fourier "
        "modes). Everything is dimensionless."
    )
    return {
        "version": STORY_VERSION,
        "title": "pcml demo: exact conservation (ProbConserv) and exact boundary conditions (BOON)",
        "lead": (
            "Two small problems, trained from scratch on a CPU in a few minutes, show what an "
            "exact physics constraint buys and what it does not. Each section states the problem, "
            "its key result and its metrics; the figures follow, then the configuration and the "
            "commands that reproduce every number."
        ),
        "sections": [
            {
                "id": "stefan",
                "heading": "1. Stefan problem: conservation by ProbConserv",
                "text": [stefan_text],
                "key_result": _stefan_key(stefan, prob.t_star),
                "table": _stefan_table(stefan, prob.t_star),
                "figures": list(figures.get("stefan", ())),
            },
            {
                "id": "heat",
                "heading": "2. Heat with an insulator: boundary conditions by BOON",
                "text": [heat_text],
                "key_result": _heat_key(heat),
                "table": _heat_table(heat, h.boon.neumann_orders, HI_ORDER),
                "figures": list(figures.get("heat", ())),
            },
        ],
        "commands": [list(c) for c in commands],
        "reproducibility": _reproducibility(),
        "links": [
            ["Stefan run report", "stefan/report.html"],
            ["Heat run report", "heat/report.html"],
        ],
    }
