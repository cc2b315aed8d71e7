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

from pcml.experiments.boon.cases import BoonCase
from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.rundir import RunDir

__all__ = ["make_figures"]

_STYLE = {
    "truth": {"color": "k", "lw": 2.0, "ls": "-"},
    "fno": {"color": "tab:red", "lw": 1.4, "ls": "--"},
    "boon": {"color": "tab:blue", "lw": 1.4, "ls": "-"},
    "boon_reference": {"color": "tab:green", "lw": 1.2, "ls": ":"},
    "boon_none": {"color": "tab:purple", "lw": 1.2, "ls": "-."},
    "fno_bc": {"color": "tab:orange", "lw": 1.2, "ls": "--"},
    "fno_soft": {"color": "tab:brown", "lw": 1.2, "ls": ":"},
}


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

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    ax[0].plot(x, y[0], label="truth", **_STYLE["truth"])
    for k, v in p.items():
        ax[0].plot(x, v[0], label=k, **_STYLE[k])
        ax[1].semilogy(x, np.abs(v - y).mean(0) + 1e-16, label=k, **_STYLE[k])
    ax[0].set(xlabel="x", ylabel="u", title=f"test sample 0, {when}")
    ax[1].set(xlabel="x", ylabel="mean |error|", title="absolute error over x (test mean)")
    ax[0].legend(fontsize=8)
    rd.save_figure(fig, "prediction", f"{cfg.case}: prediction vs truth ({when}) and error over x")
    plt.close(fig)

    if multi and details.get("per_frame_rel_l2"):
        fig, a = plt.subplots(figsize=(5, 3.6))
        for k, v in details["per_frame_rel_l2"].items():
            a.semilogy(np.arange(1, len(v) + 1), v, marker="o", ms=3, label=k, **_STYLE[k])
        a.set(xlabel="predicted frame", ylabel="relative L2 (test mean)", title="error over time")
        a.legend(fontsize=8)
        rd.save_figure(fig, "error_over_time", "relative L2 error per predicted frame")
        plt.close(fig)

    if case.kind == "heat":
        g = [_flux(test[f"bc_x_{side}"], len(y), multi) for side in ("lower", "upper")]
        i = _median_sample(p.get("fno", y), x, g[0], cfg.boon.neumann_orders)
        _heat(rd, plt, x, y[i], {k: v[i] for k, v in p.items()}, cfg, (g[0][i], g[1][i]), i)
    elif case.kind == "stokes":
        _stokes(rd, plt, x, test, preds, multi)


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
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    ax[0].plot(x, y, label="truth", **_STYLE["truth"])
    for side, a, sl in (
        ("x = 0 (insulator)", ax[1], slice(0, k)),
        ("x = 1 (heater)", ax[2], slice(n - k, n)),
    ):
        a.plot(x[sl], dy[sl], label="truth", **_STYLE["truth"])
        a.set(xlabel="x", ylabel="∂u/∂x", title=f"∂u/∂x near {side}")
    for key, v in p.items():
        ax[0].plot(x, v, label=key, **_STYLE[key])
        dv = _derivative(v, x, orders)
        ax[1].plot(
            x[:k], dv[:k], label=f"{key}: |∂u/∂x − g| = {abs(dv[0] - flux[0]):.3g}", **_STYLE[key]
        )
        ax[2].plot(
            x[n - k :],
            dv[n - k :],
            label=f"{key}: |∂u/∂x − g| = {abs(dv[-1] - flux[1]):.3g}",
            **_STYLE[key],
        )
    ax[1].plot(x[0], flux[0], "k*", ms=9, label=f"prescribed flux g = {flux[0]:.3g}")
    ax[2].plot(x[-1], flux[1], "k*", ms=9, label=f"prescribed flux g = {flux[1]:.3g}")
    ax[0].set(xlabel="x", ylabel="u", title=f"temperature, test sample {index} (median FNO error)")
    for a in ax:
        a.legend(fontsize=7)
    rd.save_figure(
        fig,
        "heat_boundary_flux",
        "Heat with an insulator (x = 0) and a heater (x = 1): the solution and ∂u/∂x near both "
        "ends (central differences inside, BOON's one-sided stencils at the end nodes), for the "
        "test sample with the median FNO flux error at x = 0; errors are against the prescribed "
        "flux g (stars). A non-zero slope at x = 0 means heat flows through the insulator.",
    )
    plt.close(fig)


def _stokes(
    rd: RunDir, plt: Any, x: np.ndarray, test: Mapping[str, Tensor], preds: Mapping, multi: bool
) -> None:
    y = test["y"][:, 0].double().numpy()
    p = {k: v[:, 0].double().numpy() for k, v in preds.items()}
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    frames = [0, y.shape[-1] // 2, y.shape[-1] - 1] if multi else [None]
    for j, f in enumerate(frames):
        yy = y[0] if f is None else y[0, :, f]
        ax[0].plot(x, yy, label="truth" if j == 0 else None, alpha=1 - 0.25 * j, **_STYLE["truth"])
        for k, v in p.items():
            vv = v[0] if f is None else v[0, :, f]
            ax[0].plot(x, vv, label=k if j == 0 else None, alpha=1 - 0.25 * j, **_STYLE[k])
    ax[0].set(xlabel="x", ylabel="u", title="velocity profiles, test sample 0")
    for k, v in p.items():
        err = np.abs(v - y)
        if multi:
            ax[1].semilogy(
                np.arange(1, y.shape[-1] + 1), err.mean(axis=(0, 1)), label=k, **_STYLE[k]
            )
        else:
            ax[1].semilogy(x, err.mean(0) + 1e-16, label=k, **_STYLE[k])
    ax[1].set(
        xlabel="predicted frame" if multi else "x",
        ylabel="mean |error|",
        title="absolute error over time" if multi else "absolute error over x",
    )
    ax[0].legend(fontsize=8)
    ax[1].legend(fontsize=8)
    rd.save_figure(fig, "stokes_profiles", "Stokes' second problem: velocity profiles and error")
    plt.close(fig)
