"""Figures of the 2-D BOON cases (matplotlib Agg, imported lazily), saved in ``DIR/figures``.

* ``initial_field``: test sample 0 at t = 0 — cavity: the vorticity of (u₀, v₀) (curl, same
  stencil as the metrics) and u₀ (its top row is the lid); wave2d: u₀;
* ``last_frame``: test sample 0 at the last predicted frame — truth, each model's prediction and
  its absolute error; the cavity shows vorticity computed from the predicted velocity (compared
  with the curl of the true velocity), the wave shows u;
* ``error_over_time``: relative L2 per predicted frame (test mean) for every model (the article's
  FNO-vs-BOON plot), and for the cavity the vorticity error per frame.

Fields are indexed ``[i(x), j(y)]`` and drawn with x to the right and y up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from torch import Tensor

from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.boon.data2d import curl
from pcml.experiments.rundir import RunDir

__all__ = ["make_figures_2d"]

_STYLE = {
    "fno": {"color": "tab:red", "ls": "--", "marker": "s"},
    "boon": {"color": "tab:blue", "ls": "-", "marker": "o"},
    "boon_reference": {"color": "tab:green", "ls": ":", "marker": "^"},
    "boon_none": {"color": "tab:purple", "ls": "-.", "marker": "D"},
    "boon_extension": {"color": "tab:olive", "ls": "-.", "marker": "v"},
    "fno_bc": {"color": "tab:orange", "ls": "--", "marker": "v"},
    "fno_soft": {"color": "tab:brown", "ls": ":", "marker": "x"},
}


def _show(ax: Any, f: np.ndarray, title: str, vmin: float, vmax: float, cmap: str) -> Any:
    im = ax.imshow(f.T, origin="lower", extent=(0, 1, 0, 1), vmin=vmin, vmax=vmax, cmap=cmap)
    ax.set(title=title, xticks=[0, 1], yticks=[0, 1])
    return im


def _field(case: str, a: Tensor, h: float) -> np.ndarray:
    """The plotted scalar of a (B, C, n_x, n_y, T) tensor: vorticity (cavity) or u (wave)."""
    a = a.double()
    if case == "cavity":
        return curl(a[:, 0], a[:, 1], h).numpy()
    return a[:, 0].numpy()


def make_figures_2d(
    rd: RunDir,
    cfg: BoonConfig,
    test: Mapping[str, Tensor],
    preds: Mapping[str, Tensor],
    metrics: Mapping[str, Mapping[str, Any]],
) -> None:
    """The three figures of the module docstring for one run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    case = cfg.case
    h = 1.0 / (test["y"].shape[2] - 1)
    name = "vorticity" if case == "cavity" else "u"
    x0 = test["x"][:1].double().unsqueeze(-1)
    ncol = 2 if case == "cavity" else 1
    fig, axes = plt.subplots(1, ncol, figsize=(4.2 * ncol, 3.6), squeeze=False)
    f0 = _field(case, x0, h)[0, :, :, 0]
    lim = float(np.abs(f0).max()) or 1.0
    fig.colorbar(_show(axes[0, 0], f0, f"{name} at t = 0", -lim, lim, "RdBu_r"), ax=axes[0, 0])
    if case == "cavity":
        u0 = x0[0, 0, :, :, 0].numpy()
        im = _show(
            axes[0, 1], u0, "u at t = 0 (lid row = U)", float(u0.min()), float(u0.max()), "viridis"
        )
        fig.colorbar(im, ax=axes[0, 1])
    rd.save_figure(fig, "initial_field", f"{case}: the model input, test sample 0 (t = 0)")
    plt.close(fig)

    truth = _field(case, test["y"][:1], h)[0, ..., -1]
    fields = {k: _field(case, p[:1], h)[0, ..., -1] for k, p in preds.items()}
    lim = float(np.abs(truth).max()) or 1.0
    err_lim = max(float(np.abs(f - truth).max()) for f in fields.values()) or 1.0
    fig, axes = plt.subplots(
        2, 1 + len(fields), figsize=(3.6 * (1 + len(fields)), 6.4), squeeze=False
    )
    what = "curl of the true velocity" if case == "cavity" else "true u"
    fig.colorbar(_show(axes[0, 0], truth, what, -lim, lim, "RdBu_r"), ax=axes[0, 0])
    axes[1, 0].axis("off")
    for col, (k, f) in enumerate(fields.items(), start=1):
        _show(axes[0, col], f, f"{k}: {name}", -lim, lim, "RdBu_r")
        im = _show(axes[1, col], np.abs(f - truth), f"{k}: |error|", 0.0, err_lim, "magma")
        fig.colorbar(im, ax=axes[1, col])
    src = " (from the predicted velocity)" if case == "cavity" else ""
    rd.save_figure(fig, "last_frame", f"{case}: {name}{src} at the last frame, test sample 0")
    plt.close(fig)

    keys = [("rel_l2_per_frame", "relative L2 (test mean)")]
    if case == "cavity":
        keys.append(("vorticity_rel_l2_per_frame", "vorticity relative L2 (test mean)"))
    fig, axes = plt.subplots(1, len(keys), figsize=(5.2 * len(keys), 3.8), squeeze=False)
    t = np.linspace(0.0, 1.0, test["y"].shape[-1] + 1)[1:]
    for ax, (metric, label) in zip(axes[0], keys, strict=True):
        for k, m in metrics.items():
            ax.semilogy(t, m[metric], ms=3, label=k, **_STYLE.get(k, {}))
        ax.set(xlabel="t (predicted frames)", ylabel=label, title=f"{case}: error over time")
        ax.legend(fontsize=8)
    rd.save_figure(fig, "error_over_time", f"{case}: relative L2 per predicted frame, FNO vs BOON")
    plt.close(fig)
