"""Training curves from the per-epoch logs of :func:`pcml.train.fit` (``logs/{name}.jsonl``).

Each record is ``{"epoch", "train_loss", "lr"[, "val_loss"]}``; :func:`read_log` returns the
curves, :func:`plot_training` draws one panel per group of models (training loss solid,
validation loss dashed, the epoch of the best validation loss marked) and returns a caption that
states, measured, whether each model was still improving when training stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcml.experiments._style import DPI, MAX_WIDTH_IN, display_name, figure_style, line_style
from pcml.experiments.rundir import RunDir

__all__ = ["Curve", "Panel", "plot_training", "read_log"]


@dataclass(frozen=True)
class Curve:
    """One model's per-epoch losses; ``val`` holds (epoch, loss) of the validation epochs."""

    epochs: tuple[int, ...]
    train: tuple[float, ...]
    val: tuple[tuple[int, float], ...]


@dataclass(frozen=True)
class Panel:
    """One panel: ``title``, ``ylabel``, ``logs`` ({model key: path of its .jsonl}) and the
    y scale ("log", "symlog" for losses that change sign, or "linear")."""

    title: str
    ylabel: str
    logs: Mapping[str, Path]
    yscale: str = "log"


def read_log(path: Path | str) -> Curve:
    """The curves of one ``logs/{name}.jsonl`` (a resumed run's log has each epoch once)."""
    rows: dict[int, dict[str, Any]] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                rows[int(rec["epoch"])] = rec
    epochs = tuple(sorted(rows))
    return Curve(
        epochs,
        tuple(float(rows[e]["train_loss"]) for e in epochs),
        tuple(
            (e, float(rows[e]["val_loss"])) for e in epochs if rows[e].get("val_loss") is not None
        ),
    )


def _g(v: float) -> str:
    return f"{v:.3g}"


def _describe(key: str, c: Curve) -> str:
    name = display_name(key)
    n = len(c.epochs)
    if c.val:
        best_epoch, best = min(c.val, key=lambda r: r[1])
        still = best_epoch == c.val[-1][0]
        return (
            f"{name}: training loss {_g(c.train[0])} → {_g(c.train[-1])} in {n} epoch"
            f"{'s' * (n != 1)}, best validation loss {_g(best)} at epoch {best_epoch}"
            + (" (the last: still improving when training stopped)" if still and n > 1 else "")
        )
    k = max(1, n // 10)
    recent = (c.train[-k - 1] - c.train[-1]) / abs(c.train[-k - 1]) if n > k else math.nan
    return (
        f"{name}: training loss {_g(c.train[0])} → {_g(c.train[-1])} in {n} epoch{'s' * (n != 1)} "
        f"({100 * recent:.1f} % lower over the last {k} epochs; no validation split)"
    )


def plot_training(rd: RunDir, stem: str, panels: Sequence[Panel], intro: str) -> Path:
    """Save ``figures/{stem}.png`` with one panel per :class:`Panel`; the caption is ``intro``
    followed by one measured sentence per model (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sentences = []
    with figure_style():
        fig, axes = plt.subplots(
            1, len(panels), figsize=(min(MAX_WIDTH_IN, 4.8 * len(panels)), 3.8), squeeze=False
        )
        for ax, panel in zip(axes[0], panels, strict=True):
            for key, path in panel.logs.items():
                c = read_log(path)
                style = line_style(key)
                ax.plot(
                    c.epochs, c.train, color=style["color"], ls="-", label=f"{style['label']} train"
                )
                if c.val:
                    ve, vl = zip(*c.val, strict=True)
                    ax.plot(
                        ve,
                        vl,
                        color=style["color"],
                        ls="--",
                        marker="o",
                        ms=3,
                        label=f"{style['label']} validation",
                    )
                    best = min(c.val, key=lambda r: r[1])
                    ax.plot([best[0]], [best[1]], "k*", ms=10, zorder=5)
                sentences.append(_describe(key, c))
            if panel.yscale == "symlog":
                ax.set_yscale("symlog", linthresh=100.0)
            else:
                ax.set_yscale(panel.yscale)
            ax.set(title=panel.title, xlabel="epoch", ylabel=panel.ylabel)
            ax.legend()
        fig.tight_layout()
        caption = intro + " " + "; ".join(sentences) + "."
        path = rd.save_figure(fig, stem, caption, dpi=DPI)
        plt.close(fig)
    return path
