"""Figures of the BOON experiments (matplotlib Agg, imported lazily), saved in ``DIR/figures``.

* heat (Neumann): one test sample — the solution, and ∂u/∂x near x = 0 (insulator, flux 0) and
  near x = 1 (heater, flux U sin πt) for the truth, FNO and BOON (article Figure 1: the FNO lets
  heat through the insulator, BOON does not). Derivatives by second-order central differences
  inside and, at the two end nodes, the one-sided stencils BOON enforces (config orders).
* stokes (Dirichlet): velocity profiles (single-step: u(x, t₁); multi-step: several frames) and
  the absolute error over time (multi-step) or over x (single-step).
* every case: prediction vs truth for one test sample and the mean absolute error over x; for
  multi-step, the relative L2 error per predicted frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor

from pcml.experiments._style import DPI, display_name, figure_style, line_style
from pcml.experiments.boon.cases import BoonCase
from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.rundir import RunDir

__all__ = ["make_figures"]

# colours, line styles and display names: pcml.experiments._style (colour-blind safe)
_STYLE = {
    k: {**line_style(k), "lw": w}
    for k, w in (("truth", 2.0), ("fno", 1.6), ("boon", 1.6), ("fno_bc", 1.4), ("fno_soft", 1.4))
} | {k: {**line_style(k), "lw": 1.4} for k in ("boon_reference", "boon_none", "boon_extension")}


def _last(a: Tensor, multi: bool) -> np.ndarray:
    """(B, C, N[, T]) → (B, N) of channel 0 at the last frame."""
    v = a[:, 0].double().numpy()
    return v[..., -1] if multi else v


def make_figures(
    rd: RunDir,
    case: BoonCase,
    cfg: BoonConfig,
    test: Mapping[str, Tensor],
    preds: Mapping[str, Tensor],
    details: Mapping[str, Any],
) -> None:
    """All figures of one run (module docstring); 1-D cases only (2-D cases: the generic ones)."""
    with figure_style():
        _make_figures(rd, case, cfg, test, preds, details)


def _make_figures(
    rd: RunDir,
    case: BoonCase,
    cfg: BoonConfig,
    test: Mapping[str, Tensor],
    preds: Mapping[str, Tensor],
    details: Mapping[str, Any],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(case.spatial_axes) != 1:
        return
    multi = cfg.multi_step
    y = _last(test["y"], multi)
    x = np.linspace(0.0, 1.0, y.shape[-1])
    p = {k: _last(v, multi) for k, v in preds.items()}
    when = "last frame" if multi else "target time"
    # one test sample for every figure of the run: the heat flux figure's (median FNO error)
    s = 0
    if case.kind == "heat":
        g = [_flux(test[f"bc_x_{side}"], len(y), multi) for side in ("lower", "upper")]
        s = _median_sample(p.get("fno", y), x, g[0], cfg.boon.neumann_orders)

    fig, ax = plt.subplots(1, 2, figsize=(10.5, 3.8))
    ax[0].plot(x, y[s], **_STYLE["truth"])
    errs = {k: np.abs(v - y).mean(0) for k, v in p.items()}
    for k, v in p.items():
        ax[0].plot(x, v[s], **_STYLE[k])
        ax[1].semilogy(x, errs[k] + 1e-16, **_STYLE[k])
    ax[0].set(xlabel="x", ylabel="u", title=f"test sample {s}, {when}")
    ax[1].set(xlabel="x", ylabel="mean |error|", title="absolute error over x (test mean)")
    ax[0].legend()
    ax[1].legend()
    fig.tight_layout()
    rd.save_figure(
        fig,
        "prediction",
        f"{case.description}: prediction vs truth at the {when} for test sample {s}, and the "
        f"absolute error over x (mean over the test split). {_compare(errs)}",
        dpi=DPI,
    )
    plt.close(fig)

    if multi and details.get("per_frame_rel_l2"):
        fig, a = plt.subplots(figsize=(5, 3.6))
        for k, v in details["per_frame_rel_l2"].items():
            a.semilogy(np.arange(1, len(v) + 1), v, marker="o", ms=3, **_STYLE[k])
        a.set(xlabel="predicted frame", ylabel="relative L2 (test mean)", title="error over time")
        a.legend()
        rd.save_figure(fig, "error_over_time", "relative L2 error per predicted frame", dpi=DPI)
        plt.close(fig)

    if case.kind == "heat":
        _heat(rd, plt, x, y[s], {k: v[s] for k, v in p.items()}, cfg, (g[0][s], g[1][s]), s)
    elif case.kind == "stokes":
        _stokes(rd, plt, x, test, preds, multi)


def _compare(errs: Mapping[str, np.ndarray]) -> str:
    """One measured sentence: at how many nodes BOON's mean |error| is below the FNO's."""
    if "boon" not in errs or "fno" not in errs:
        return ""
    below = int((errs["boon"] < errs["fno"]).sum())
    n = errs["boon"].size
    worst = int(np.argmax(errs["boon"] - errs["fno"]))
    text = f"BOON's mean |error| is below the FNO's at {below} of {n} nodes"
    if below < n:
        text += (
            f"; above it at x = {worst / (n - 1):.2f} ({errs['boon'][worst]:.3g} vs "
            f"{errs['fno'][worst]:.3g})"
        )
    return text + "."


def _derivative(v: np.ndarray, x: np.ndarray, orders: tuple[int, int]) -> np.ndarray:
    """∂v/∂x: 2nd-order FD inside, BOON's one-sided stencils (``orders``) at the two ends."""
    from pcml.constraints.stencils import OneSidedStencil

    d = np.gradient(v, x, edge_order=2)
    for side, order, i in (("lower", orders[0], 0), ("upper", orders[1], -1)):
        w = OneSidedStencil(order).weights(x.tolist(), side)  # type: ignore[arg-type]
        d[i] = sum(c * v[j] for j, c in zip(w.nodes, w.weights, strict=True))
    return d


def _flux(values: Tensor, n: int, multi: bool) -> np.ndarray:
    """Prescribed Neumann values of one wall as (n,): the target time, or the last frame."""
    v = values.double().reshape(values.shape[0], -1).numpy()
    return np.broadcast_to(v[:, -1] if multi else v[:, 0], (n,))


def _median_sample(v: np.ndarray, x: np.ndarray, g0: np.ndarray, orders: tuple[int, int]) -> int:
    """Index of the test sample whose flux error |∂v/∂x(0) − g₀| is the median over samples.

    Showing sample 0 undersold the FNO (its error there happened to be far below the test mean).
    """
    err = np.array([abs(_derivative(vi, x, orders)[0] - gi) for vi, gi in zip(v, g0, strict=True)])
    return int(np.argsort(err)[len(err) // 2])


def _heat(
    rd: RunDir,
    plt: Any,
    x: np.ndarray,
    y: np.ndarray,
    p: Mapping,
    cfg: BoonConfig,
    flux: tuple[float, float],
    index: int,
) -> None:
    n = x.size
    k = max(5, n // 10)
    orders = cfg.boon.neumann_orders
    dy = _derivative(y, x, orders)
    fig, ax = plt.subplots(1, 3, figsize=(10.5, 4.2))
    ax[0].plot(x, y, **_STYLE["truth"])
    for side, a, sl in (
        ("x = 0 (insulator)", ax[1], slice(0, k)),
        ("x = 1 (heater)", ax[2], slice(n - k, n)),
    ):
        a.plot(x[sl], dy[sl], **_STYLE["truth"])
        a.set(xlabel="x", ylabel="∂u/∂x", title=f"∂u/∂x near {side}")
    for key, v in p.items():
        ax[0].plot(x, v, **_STYLE[key])
        dv = _derivative(v, x, orders)
        name = display_name(key)
        ax[1].plot(
            x[:k], dv[:k], **{**_STYLE[key], "label": f"{name}: |error| {abs(dv[0] - flux[0]):.2g}"}
        )
        ax[2].plot(
            x[n - k :],
            dv[n - k :],
            **{**_STYLE[key], "label": f"{name}: |error| {abs(dv[-1] - flux[1]):.2g}"},
        )
    ax[1].plot(x[0], flux[0], "k*", ms=9, label=f"prescribed g = {flux[0]:.3g}")
    ax[2].plot(x[-1], flux[1], "k*", ms=9, label=f"prescribed g = {flux[1]:.3g}")
    ax[0].set(xlabel="x", ylabel="u", title=f"temperature, test sample {index}")
    for a in ax:
        a.legend(fontsize=9)
    fig.tight_layout()
    rd.save_figure(
        fig,
        "heat_boundary_flux",
        "Heat with an insulator (x = 0) and a heater (x = 1): the solution and ∂u/∂x near both "
        "ends (central differences inside, BOON's one-sided stencils at the end nodes), for the "
        "test sample with the median FNO flux error at x = 0; errors are against the prescribed "
        "flux g (stars). A non-zero slope at x = 0 means heat flows through the insulator.",
        dpi=DPI,
    )
    plt.close(fig)


def _nolabel(key: str, j: int) -> dict[str, Any]:
    """The style of ``key`` with its legend label on the first frame (``j == 0``) only."""
    return {**_STYLE[key], "label": _STYLE[key]["label"] if j == 0 else None}


def _stokes(
    rd: RunDir, plt: Any, x: np.ndarray, test: Mapping[str, Tensor], preds: Mapping, multi: bool
) -> None:
    y = test["y"][:, 0].double().numpy()
    p = {k: v[:, 0].double().numpy() for k, v in preds.items()}
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    frames = [0, y.shape[-1] // 2, y.shape[-1] - 1] if multi else [None]
    for j, f in enumerate(frames):
        yy = y[0] if f is None else y[0, :, f]
        ax[0].plot(x, yy, alpha=1 - 0.25 * j, **_nolabel("truth", j))
        for k, v in p.items():
            vv = v[0] if f is None else v[0, :, f]
            ax[0].plot(x, vv, alpha=1 - 0.25 * j, **_nolabel(k, j))
    ax[0].set(xlabel="x", ylabel="u", title="velocity profiles, test sample 0")
    for k, v in p.items():
        err = np.abs(v - y)
        if multi:
            ax[1].semilogy(np.arange(1, y.shape[-1] + 1), err.mean(axis=(0, 1)), **_STYLE[k])
        else:
            ax[1].semilogy(x, err.mean(0) + 1e-16, **_STYLE[k])
    ax[1].set(
        xlabel="predicted frame" if multi else "x",
        ylabel="mean |error|",
        title="absolute error over time" if multi else "absolute error over x",
    )
    ax[0].legend()
    ax[1].legend()
    rd.save_figure(
        fig, "stokes_profiles", "Stokes' second problem: velocity profiles and error", dpi=DPI
    )
    plt.close(fig)
