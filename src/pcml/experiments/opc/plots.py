"""Figures of an Operator-ProbConserv run (matplotlib Agg, imported lazily), from
``metrics.json`` and ``fields.json``:

- ``fig_error_uncertainty.png``: |error| and σ over (x, t), before and after the update, for test
  function 1 of the largest shift, one row per method;
- ``fig_calibration.png``: observed vs expected quantile frequency, in domain and largest shift;
- ``fig_mass.png``: mass ∫u dx of the mean over time before/after, with the exact b(t);
- ``fig_ood.png``: MSE, CRPS and n-MeRCI against the shift (test, small, medium, large).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pcml.experiments.opc.config import OPCConfig
from pcml.experiments.rundir import RunDir

__all__ = ["plot_all"]

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")


def plot_all(out: str | Path, cfg: OPCConfig) -> list[Path]:
    """Write the figures into the run directory ``out``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    out = Path(out)
    rd = RunDir(out)
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    fields = json.loads((out / "fields.json").read_text(encoding="utf-8"))
    methods = list(cfg.methods)
    splits = list(metrics)
    n_x, n_t = len(fields["x"]), len(fields["t"])
    extent = (fields["t"][0], fields["t"][-1], fields["x"][0], fields["x"][-1])
    written: list[Path] = []
    prob = cfg.problem

    def save(fig: Any, name: str, caption: str) -> None:
        written.append(rd.save_figure(fig, name, caption, dpi=90))
        plt.close(fig)

    big = fields["splits"][splits[-1]]
    truth = np.asarray(big["truth"]).reshape(n_x, n_t)
    fig, axes = plt.subplots(len(methods), 4, figsize=(11, 2.2 * len(methods)), squeeze=False)
    for r, m in enumerate(methods):
        f = big[m]
        panels = (
            (np.abs(np.asarray(f["mean"]).reshape(n_x, n_t) - truth), "|error|"),
            (np.asarray(f["std"]).reshape(n_x, n_t), "σ"),
            (np.abs(np.asarray(f["mean_pc"]).reshape(n_x, n_t) - truth), "|error| after"),
            (np.asarray(f["std_pc"]).reshape(n_x, n_t), "σ after"),
        )
        for c, (img, title) in enumerate(panels):
            ax = axes[r][c]
            im = ax.imshow(img, origin="lower", aspect="auto", extent=extent, cmap="viridis")
            fig.colorbar(im, ax=ax, fraction=0.046)
            ax.set_title(f"{m}: {title}", fontsize=8)
            ax.set_xlabel("t", fontsize=7)
            ax.set_ylabel("x", fontsize=7)
            ax.tick_params(labelsize=6)
    fig.tight_layout()
    save(
        fig,
        "fig_error_uncertainty.png",
        f"{prob}: |error| and predictive σ over (x, t) before and after ProbConserv, test "
        f"function 1 of the '{splits[-1]}' shift",
    )

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), squeeze=False)
    for ax, split in zip(axes[0], (splits[0], splits[-1]), strict=True):
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        for m, color in zip(methods, _COLORS, strict=False):
            p, fr = fields["splits"][split][m]["calibration"]
            ax.plot(p, fr, color=color, label=m)
            p, fr = fields["splits"][split][m]["calibration_pc"]
            ax.plot(p, fr, color=color, ls="--")
        ax.set_title(f"{prob}, {split} (dashed: after the update)", fontsize=9)
        ax.set_xlabel("expected quantile level")
        ax.set_ylabel("observed frequency")
    axes[0][-1].legend(fontsize=7)
    save(fig, "fig_calibration.png", f"{prob}: calibration curves, in domain and largest shift")

    fig, axes = plt.subplots(1, len(splits), figsize=(4 * len(splits), 3.4), squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        info = fields["splits"][split]
        ax.plot(fields["t"], info["b"], "k-", lw=3, alpha=0.4, label="exact b(t)")
        for m, color in zip(methods, _COLORS, strict=False):
            ax.plot(fields["t"], info[m]["mass"], color=color, label=m)
            ax.plot(fields["t"], info[m]["mass_pc"], color=color, ls="--")
        ax.set_title(f"{split}: mass of the mean (dashed: after)", fontsize=9)
        ax.set_xlabel("t")
    axes[0][-1].legend(fontsize=7)
    save(fig, "fig_mass.png", f"{prob}: mass over time before/after the update, test function 1")

    keys = ("mse", "crps", "nmerci")
    fig, axes = plt.subplots(1, len(keys), figsize=(4.5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys, strict=True):
        for m, color in zip(methods, _COLORS, strict=False):
            before = [metrics[s][m][key] for s in splits]
            after = [metrics[s][f"{m}+pc"][key] for s in splits]
            ax.plot(splits, before, "o-", color=color, label=m)
            ax.plot(splits, after, "s--", color=color)
        if key != "nmerci":
            ax.set_yscale("log")
        ax.set_title(f"{prob}: {key} vs shift (dashed: after)", fontsize=9)
        ax.set_xlabel("test split (in domain → large shift)")
    axes[0][-1].legend(fontsize=7)
    save(fig, "fig_ood.png", f"{prob}: metrics against the out-of-domain shift, before/after")
    return written
