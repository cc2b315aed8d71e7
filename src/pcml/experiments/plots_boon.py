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

from pcml.experiments.boon_cases import BoonCase
from pcml.experiments.boon_config import BoonConfig
from pcml.experiments.rundir import RunDir

__all__ = ["make_figures"]

_STYLE = {
    "truth": {"color": "k", "lw": 2.0, "ls": "-"},
    "fno": {"color": "tab:red", "lw": 1.4, "ls": "--"},
    "boon": {"color": "tab:blue", "lw": 1.4, "ls": "-"},
    "boon_reference": {"color": "tab:green", "lw": 1.2, "ls": ":"},
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
        _heat(rd, plt, x, y[0], {k: v[0] for k, v in p.items()}, cfg)
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


def _heat(rd: RunDir, plt: Any, x: np.ndarray, y: np.ndarray, p: Mapping, cfg: BoonConfig) -> None:
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
            x[:k], dv[:k], label=f"{key}: |err| at 0 = {abs(dv[0] - dy[0]):.3g}", **_STYLE[key]
        )
        ax[2].plot(
            x[n - k :],
            dv[n - k :],
            label=f"{key}: |err| at 1 = {abs(dv[-1] - dy[-1]):.3g}",
            **_STYLE[key],
        )
    ax[0].set(xlabel="x", ylabel="u", title="temperature, test sample 0")
    for a in ax:
        a.legend(fontsize=7)
    rd.save_figure(
        fig,
        "heat_boundary_flux",
        "Heat with an insulator (x = 0) and a heater (x = 1): the solution and ∂u/∂x near both "
        "ends (central differences inside, BOON's one-sided stencils at the end nodes). A "
        "non-zero slope at x = 0 means heat flows through the insulator.",
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
