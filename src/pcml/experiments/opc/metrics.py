r"""Metrics of Operator-ProbConserv, before and after the update (reference §10, pcml choices).

For a Gaussian predictive N(μ, σ²) per node (mean ``(B, n)``, variance ``(B, n)``, n = n_x n_t,
flattened x-major) and the truth y ``(B, n)``:

- ``mse``: mean over nodes and functions of (μ − y)²; ``mse_se`` its standard error over functions;
- ``nll``: mean per node of ½[(μ − y)²/σ² + log 2πσ²] (the follow-up sums over the nodes);
- ``crps``: mean closed-form Gaussian CRPS (``pcml.metrics.crps_gaussian``);
- ``piw``: mean 95 % interval width 2 z σ, z = Φ⁻¹(0.975); ``coverage``: fraction of |y − μ| ≤ z σ;
- ``rmsce``: for p ∈ {0, 0.1, …, 1}, the frequency over functions of y ≤ μ + σ Φ⁻¹(p) per node;
  RMS over p of (p − frequency), averaged over nodes (the follow-up's definition);
- ``nmerci`` (α = 0.95, lower is better, 0 best): MAE_e = Σ_i |μ − y|, s_e = (Σ_i σ²)^{1/2},
  λ_e = MAE_e/s_e, n-MeRCI = (mean_e(q_α(λ) s_e) − mean MAE) / (max MAE − mean MAE);
- ``ce``: mean over functions of Σ_j |G μ_j − b_j| (G the trapezoid rule on the x grid);
  ``ce_rel``: max over functions and slices of |G μ_j − b_j| / (Σ_i |g_i μ_ij| + |b_j|) — the
  relative conservation error the update must bring to round-off.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from pcml.metrics.probabilistic import crps_gaussian

__all__ = ["Z95", "calibration_curve", "mass", "operator_metrics"]

Z95 = float(torch.special.ndtri(torch.tensor(0.975, dtype=torch.float64)))
_LEVELS = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)


def mass(mean: Tensor, g: Tensor, n_t: int) -> Tensor:
    """G μ per slice: ``(B, n)`` → ``(B, n_t)``."""
    return (mean.reshape(mean.shape[0], g.shape[0], n_t) * g[None, :, None]).sum(1)


def _quantile_freq(mean: Tensor, std: Tensor, y: Tensor, levels: Tensor) -> Tensor:
    """(K, n): per level and node, the frequency over functions of y ≤ μ + σ Φ⁻¹(p)."""
    z = torch.special.ndtri(levels.clamp(1e-12, 1 - 1e-12))
    q = mean.unsqueeze(0) + std.unsqueeze(0) * z[:, None, None]
    return (y.unsqueeze(0) <= q).to(torch.float64).mean(1)


def calibration_curve(mean: Tensor, variance: Tensor, y: Tensor) -> tuple[list[float], list[float]]:
    """(expected p, observed frequency pooled over functions and nodes) at p = 0, 0.1, …, 1."""
    freq = _quantile_freq(mean, variance.sqrt(), y, _LEVELS).mean(1)
    return _LEVELS.tolist(), freq.tolist()


def operator_metrics(
    mean: Tensor, variance: Tensor, y: Tensor, g: Tensor, b: Tensor
) -> dict[str, float]:
    """All metrics of the module docstring for float64 ``mean``, ``variance``, ``y`` ``(B, n)``,
    trapezoid weights ``g (n_x,)`` and masses ``b (B, n_t)``."""
    if not (mean.shape == variance.shape == y.shape) or mean.ndim != 2:
        raise ValueError(
            f"mean, variance, y: expected equal shapes (B, n), got {tuple(mean.shape)}, "
            f"{tuple(variance.shape)}, {tuple(y.shape)}"
        )
    var = variance.clamp_min(1e-300)
    std = var.sqrt()
    err = mean - y
    per_fn = err.square().mean(1)
    B = mean.shape[0]
    nll = 0.5 * (err.square() / var + torch.log(2 * math.pi * var))
    freq = _quantile_freq(mean, std, y, _LEVELS)
    rmsce = (_LEVELS[:, None] - freq).square().mean(0).sqrt().mean()
    mae = err.abs().sum(1)
    s = var.sum(1).sqrt()
    q = torch.quantile(mae / s, 0.95)
    spread = float(mae.max() - mae.mean())
    nmerci = float((q * s).mean() - mae.mean()) / spread if spread > 0 else float("nan")
    resid = mass(mean, g, b.shape[1]) - b
    scale = mass(mean.abs(), g.abs(), b.shape[1]) + b.abs()
    return {
        "mse": float(per_fn.mean()),
        "mse_se": float(per_fn.std() / math.sqrt(B)) if B > 1 else float("nan"),
        "nll": float(nll.mean()),
        "crps": float(crps_gaussian(mean, var, y).mean()),
        "piw": float((2 * Z95 * std).mean()),
        "coverage": float((err.abs() <= Z95 * std).to(torch.float64).mean()),
        "rmsce": float(rmsce),
        "nmerci": nmerci,
        "ce": float(resid.abs().sum(1).mean()),
        "ce_rel": float((resid.abs() / scale.clamp_min(1e-300)).max()),
    }
