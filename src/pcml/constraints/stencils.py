r"""One-sided finite-difference stencils for boundary derivatives, built from the actual grid.

A first-derivative stencil of accuracy order :math:`p` at a boundary node uses the :math:`p + 1`
nodes nearest to that end,

.. math::
    u'(x_b) \approx \sum_{j} c_j\, u(x_j),

with weights :math:`c_j` from Fornberg's recursion (Fornberg 1988, "Generation of finite difference
formulas on arbitrarily spaced grids") for the coordinates actually passed in, so a uniform grid of
any resolution, or a non-uniform grid, gets exact weights.

The original BOON code froze :math:`h = 1/(N-1)` of the training grid into a ``functools.partial``,
so evaluating at another resolution enforced a wrong flux; it also used :math:`u_0 = g + u_1` at the
left end, which is correct only for :math:`g = 0` (the first-order relation is
:math:`u_0 = u_1 - h g`). Here both ends use the same stencil object and the grid of the call.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Side = Literal["lower", "upper"]

__all__ = ["OneSidedStencil", "StencilWeights", "fornberg_weights"]


def fornberg_weights(z: float, x: Sequence[float], m: int) -> list[list[float]]:
    r"""Finite-difference weights with :math:`u^{(k)}(z) \approx \sum_j c_{j,k} u(x_j)`.

    ``x``: (n,) distinct node coordinates; returns an ``n × (m + 1)`` nested list (float64 Python
    floats), column k holding the weights of the k-th derivative, k = 0..m. Exact for polynomials of
    degree ≤ n − 1.
    """
    n = len(x)
    if n < 1 or m < 0 or m >= n:
        raise ValueError(f"fornberg_weights: need 0 <= m < len(x); got m={m}, len(x)={n}")
    if len({float(v) for v in x}) != n:
        raise ValueError(f"fornberg_weights: x must hold distinct coordinates, got {list(x)}")
    c = [[0.0] * (m + 1) for _ in range(n)]
    c1 = 1.0
    c4 = float(x[0]) - z
    c[0][0] = 1.0
    for i in range(1, n):
        mn = min(i, m)
        c2 = 1.0
        c5 = c4
        c4 = float(x[i]) - z
        for j in range(i):
            c3 = float(x[i]) - float(x[j])
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[i][k] = c1 * (k * c[i - 1][k - 1] - c5 * c[i - 1][k]) / c2
                c[i][0] = -c1 * c5 * c[i - 1][0] / c2
            for k in range(mn, 0, -1):
                c[j][k] = (c4 * c[j][k] - k * c[j][k - 1]) / c3
            c[j][0] = c4 * c[j][0] / c3
        c1 = c2
    return c


@dataclass(frozen=True)
class StencilWeights:
    r"""A concrete stencil :math:`D u = \sum_j w_j u_{n_j}` at one boundary node of one grid.

    ``nodes``: node indices along the axis; ``weights``: float64 weights (same length);
    ``boundary``: position in ``nodes`` of the boundary node itself.
    """

    nodes: tuple[int, ...]
    weights: tuple[float, ...]
    boundary: int

    def apply(self, u: Tensor, dim: int) -> Tensor:
        """Stencil derivative :math:`\\sum_j w_j u_{n_j}` along ``dim``; ``u`` loses that dim."""
        out = self.weights[0] * u.select(dim, self.nodes[0])
        for n, w in zip(self.nodes[1:], self.weights[1:], strict=True):
            out = out + w * u.select(dim, n)
        return out

    def solve_boundary(self, u: Tensor, flux: Tensor, dim: int) -> Tensor:
        r"""Boundary value :math:`u_b = (g - \sum_{j \ne b} w_j u_{n_j}) / w_b` that makes D u = g.

        ``u``: (..., N, ...) with the axis at ``dim``; ``flux``: broadcastable to ``u`` without
        ``dim``. Returns the boundary slice (``u`` without ``dim``).
        """
        rest: Tensor | None = None
        for i, (n, w) in enumerate(zip(self.nodes, self.weights, strict=True)):
            if i == self.boundary:
                continue
            term = w * u.select(dim, n)
            rest = term if rest is None else rest + term
        assert rest is not None
        return (flux - rest) / self.weights[self.boundary]


@dataclass(frozen=True)
class OneSidedStencil:
    """First-derivative one-sided stencil of accuracy ``order`` (uses ``order + 1`` nodes).

    ``order=1``: :math:`(u_1 - u_0)/h`; ``order=3`` at the upper end on a uniform grid is the
    original BOON right-end stencil :math:`(11/6 u_{N-1} - 3u_{N-2} + 3/2 u_{N-3} - 1/3 u_{N-4})/h`
    (third order; the original notebooks call it fourth order).
    """

    order: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.order, int) or not 1 <= self.order <= 6:
            raise ValueError(f"OneSidedStencil: order must be an int in 1..6, got {self.order!r}")

    @property
    def n_points(self) -> int:
        return self.order + 1

    def weights(self, coords: Tensor | Sequence[float], side: Side) -> StencilWeights:
        """Weights at the ``side`` end of the grid ``coords`` (N,), strictly increasing."""
        xs = [float(v) for v in (coords.tolist() if isinstance(coords, Tensor) else coords)]
        n = len(xs)
        if n < self.n_points + 1:
            raise ValueError(
                f"OneSidedStencil(order={self.order}): grid of {n} nodes is too small; need at "
                f"least {self.n_points + 1} so the stencil stays off the opposite boundary node"
            )
        if any(b <= a for a, b in itertools.pairwise(xs)):
            raise ValueError("OneSidedStencil: coords must be strictly increasing")
        if side == "lower":
            nodes = tuple(range(self.n_points))
            boundary = 0
        elif side == "upper":
            nodes = tuple(range(n - self.n_points, n))
            boundary = self.n_points - 1
        else:
            raise ValueError(f"OneSidedStencil: side must be 'lower' or 'upper', got {side!r}")
        z = xs[nodes[boundary]]
        c = fornberg_weights(z, [xs[i] for i in nodes], 1)
        return StencilWeights(nodes, tuple(row[1] for row in c), boundary)


def uniform_coords(n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """The closed uniform grid linspace(0, 1, n), (n,) — the default coordinates of an axis."""
    return torch.linspace(0.0, 1.0, n, dtype=dtype)
