"""2-D heat equation on the unit square with closed form and integral laws (ProbConserv in 2-D).

    u_t = κ (u_xx + u_yy)  on Ω = [0, 1]²,   u = 0 on ∂Ω,
    u(t, x, y; κ) = e^{−2π²κt} sin(πx) sin(πy) + a e^{−5π²κt} sin(2πx) sin(πy)   (a = 0.5).

Integral laws (divergence theorem; u = 0 on ∂Ω, so every right-hand side is a boundary flux):

    M(t) = ∫_Ω u            = (2/π)² e^{−2π²κt}                               (mass)
    X(t) = ∫_Ω x u          = (2/π²) e^{−2π²κt} − (a/π²) e^{−5π²κt}          (x-moment)
    Y(t) = ∫_Ω y u          = (2/π²) e^{−2π²κt}                               (y-moment)

with dM/dt = κ ∮ ∂_n u, dX/dt = κ ∮ x ∂_n u, dY/dt = κ ∮ y ∂_n u. These are linear in u: on an
N × N grid, G ∈ R^{3×N²} has rows w, w∘x, w∘y with w_ij = g_i g_j the tensor trapezoid weights
(:func:`moment_rows`). The second mode carries no mass but moves the x-moment, so the three rows
are independent. Grids are closed (both faces included), x_i = i/(N−1), flattened row-major
(index i·N + j for (x_i, y_j)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor

from pcml.constraints import quadrature_weights

__all__ = ["Diffusion2D", "moment_rows", "square_grid"]

F64 = NDArray[np.float64]
_PI = np.pi


@dataclass(frozen=True)
class Diffusion2D:
    """The problem's data: κ ~ U(train_range) for training functions, t ∈ t_range, t* the
    evaluation time, ``mode2`` the amplitude a of the second mode."""

    train_range: tuple[float, float] = (0.02, 0.1)
    t_range: tuple[float, float] = (0.0, 1.0)
    t_star: float = 0.5
    mode2: float = 0.5

    def __post_init__(self) -> None:
        lo, hi = self.train_range
        if not 0.0 < lo < hi:
            raise ValueError(f"train_range: expected 0 < lo < hi, got {self.train_range}")
        t0, t1 = self.t_range
        if not 0.0 <= t0 < t1 or not t0 <= self.t_star <= t1:
            raise ValueError(
                f"t_range, t_star: expected 0 <= t0 <= t_star <= t1, got {self.t_range}, "
                f"{self.t_star}"
            )

    def _check(self, kappa: ArrayLike) -> F64:
        k = np.asarray(kappa, dtype=np.float64)
        if not np.all(np.isfinite(k) & (k > 0)):
            raise ValueError(f"kappa: expected finite values > 0, got {k}")
        return k

    def solution(self, t: ArrayLike, x: ArrayLike, y: ArrayLike, kappa: ArrayLike) -> F64:
        """u(t, x, y; κ), broadcasting all arguments (float64)."""
        k = self._check(kappa)
        t, x, y = (np.asarray(v, dtype=np.float64) for v in (t, x, y))
        if np.any((x < 0) | (x > 1) | (y < 0) | (y > 1)) or np.any(t < 0):
            raise ValueError("t, x, y: expected t >= 0 and (x, y) in [0, 1]^2")
        e1 = np.exp(-2 * _PI**2 * k * t)
        e2 = np.exp(-5 * _PI**2 * k * t)
        sy = np.sin(_PI * y)
        return e1 * np.sin(_PI * x) * sy + self.mode2 * e2 * np.sin(2 * _PI * x) * sy

    def moments(self, t: ArrayLike, kappa: ArrayLike) -> F64:
        """(M, X, Y)(t; κ): (..., 3), the exact integrals of u, x u, y u over Ω."""
        k = self._check(kappa)
        t = np.asarray(t, dtype=np.float64)
        e1 = np.exp(-2 * _PI**2 * k * t)
        e2 = np.exp(-5 * _PI**2 * k * t)
        mass = (2 / _PI) ** 2 * e1
        mx = 2 / _PI**2 * e1 - self.mode2 / _PI**2 * e2
        my = 2 / _PI**2 * e1
        return np.stack(np.broadcast_arrays(mass, mx, my), axis=-1)


def square_grid(n: int) -> tuple[Tensor, Tensor]:
    """Closed grid x_i = i/(n−1): returns (x, y) each (n²,) float64, row-major (x slow)."""
    if n < 2:
        raise ValueError(f"n: expected >= 2 points per side, got {n}")
    s = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(s, s, indexing="ij")
    return xx.reshape(-1), yy.reshape(-1)


def moment_rows(n: int, rows: tuple[str, ...] = ("mass", "x", "y")) -> Tensor:
    """G (len(rows), n²): tensor-trapezoid weights w_ij = g_i g_j times 1, x_i or y_j."""
    s = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    g = quadrature_weights(s)
    w = (g[:, None] * g[None, :]).reshape(-1)
    x, y = square_grid(n)
    table = {"mass": w, "x": w * x, "y": w * y}
    unknown = [r for r in rows if r not in table]
    if unknown or not rows:
        raise ValueError(f"rows: unknown {unknown} (or empty); expected from {sorted(table)}")
    return torch.stack([table[r] for r in rows])
