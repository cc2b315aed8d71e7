r"""Smooth boundary lift: the output of an operator corrected by fixed smooth functions of the wall
coordinate so that the boundary conditions hold on the *represented* field.

Per constrained axis a (coordinate :math:`x \in [x_0, x_{N-1}]`, :math:`\xi = (x - x_0)/(x_{N-1}
- x_0)`) with side functionals :math:`L_s` (Dirichlet: the end value; Neumann: the one-sided
stencil :math:`D_s u = \sum_j w_{s,j} u_j` of the call's grid) and targets :math:`g_s`,

.. math::
    u \leftarrow u + \sum_{j} c_j\,\psi_j(\xi),\qquad M c = g - L u,\qquad M_{sj} = L_s \psi_j,

with the basis per side pair (value/derivative of each :math:`\psi_j` vanishes at the *other*
side, so :math:`M` is the identity up to the stencil's truncation error; an unresolved basis —
a nearly singular M — is refused with an error).

**Local lift** (``width`` δ ∈ (0, 1], BOON's default δ = 0.2): every side has its own function,
supported within δ of its wall,

.. math::
    \varphi(t) = (1 - t)^3 (1 + 3t + 6t^2)\ (0 \le t < 1),\ 0\ (t \ge 1);\qquad
    \psi^D_0 = \varphi(\xi/\delta),\ \psi^D_1 = \varphi((1-\xi)/\delta),\
    \psi^N_0 = \xi\,\varphi(\xi/\delta),\ \psi^N_1 = (\xi - 1)\,\varphi((1-\xi)/\delta)

(φ = 1 − smootherstep: φ(0) = 1, φ'(0) = φ''(0) = 0, C² where it reaches 0; a Dirichlet
function has zero slope at its wall, a Neumann function zero value and unit slope). A mismatch
of the operator's output at a wall is corrected within δ of that wall only. **Why local**
(measured, trained Stokes-Dirichlet, quick profile, seed 0, test / validation rel. L2): with the
global functions below the raw network's wall values were off by 2.5 rms (target rms 1) and the
lift spread that mismatch over the whole domain as a ramp; the error sat in x ∈ [0.1, 0.4]:
0.073 / 0.071 (FNO 0.027 / 0.023); with δ = 0.2: 0.024 / 0.019 (``docs/results/boon.md``,
issue #13).

**Global lift** (``width=None``, the first extension formulation):

=============  ==========================================
(lower, upper)  :math:`\psi`
=============  ==========================================
D, D            :math:`1-\xi,\ \xi`
N, N            :math:`\xi - \xi^2/2,\ \xi^2/2`
D, N            :math:`(1-\xi)^2,\ \xi`
N, D            :math:`1-\xi,\ \xi^2`
one side only   the basis function of that side
=============  ==========================================

Shapes: ``u`` (B, C, *grid); values ``{axis: (lower, upper)}`` of (B, *wall) tensors (None for a
free side), broadcast over channels. The coefficients c are (B, C, *wall): one smooth correction per
wall point, so in 1-D + time the lift is per time frame.

**Reading the flux** (``flux_order`` q, BOON's default 6): a Neumann side's :math:`L_s` (in
:math:`Mc = g - Lu` and in :math:`M`) is the one-sided stencil of order :math:`\min(q, N-2)`,
not the side's own order p. The lifted field then has :math:`D^{(q)} u = g` and the exact
enforcement moves only the wall node, by :math:`(g - D^{(p)} u)/w_0 = (D^{(q)} - D^{(p)})u / w_0
= O(h^{p+1})`. Why: the operator's top retained modes are under-resolved for a p = 3 stencil
at N ≈ 128, so :math:`D^{(p)} u` of the *raw* output — and with it the whole correction
:math:`c\,\psi` within δ of the wall — moved when the grid was refined (trained heat-Neumann,
seed 0: raw output changed 4.6e-4 from N to 2N, the lifted output 1.9e-3, 98 % of it next to
the heater wall). Untrained, width 32, 16 modes, spectral weights ×32, Neumann(3) (0, 1), change
per doubling 129 → 1025: q = 3 4.2e-4, 6.5e-5, 8.2e-6; q = 6 8.0e-5, 1.7e-5, 3.8e-6 (order 2.1).

**Why it converges.** :math:`L u` reads point values (Dirichlet) or a p-th order stencil
(Neumann) of the operator's smooth output, which converge with the grid like the output itself
(:math:`O(h^2)` with trapezoid-extended spectral layers, :mod:`pcml.models.boon_extension`) plus the
stencil's :math:`O(h^p)`; the :math:`\psi_j` are fixed functions of the wall coordinate. So the
lifted field converges at :math:`O(h^{\min(2, p)})` and, being smooth, its high-order (e.g.
6th-order) boundary flux equals the prescribed flux up to that order — unlike a node overwrite,
which puts the boundary node on top of interior roughness. Axes are lifted in the order Neumann
axes first, then the rest, so with corner-compatible data the Dirichlet faces end smooth; the exact
discrete enforcement (:func:`pcml.constraints.boundary.apply_boundary_conditions`, Dirichlet
bitwise, corner rule :data:`pcml.constraints.boundary.CORNER_RULE`) then changes the field only by
round-off on every face node not shared with another face.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor

from pcml.constraints.boundary import BC, BoundaryConditions, Dirichlet, Neumann
from pcml.constraints.stencils import OneSidedStencil

__all__ = ["check_flux_order", "lift_basis", "smooth_lift"]

_Basis = Callable[[Tensor], Tensor]

_BASES: dict[tuple[str | None, str | None], tuple[_Basis, ...]] = {
    ("dirichlet", "dirichlet"): (lambda s: 1 - s, lambda s: s),
    ("neumann", "neumann"): (lambda s: s - s * s / 2, lambda s: s * s / 2),
    ("dirichlet", "neumann"): (lambda s: (1 - s) ** 2, lambda s: s),
    ("neumann", "dirichlet"): (lambda s: 1 - s, lambda s: s * s),
    ("dirichlet", None): (lambda s: 1 - s,),
    (None, "dirichlet"): (lambda s: s,),
    ("neumann", None): (lambda s: s - s * s / 2,),
    (None, "neumann"): (lambda s: s * s / 2,),
}


def _bump(t: Tensor) -> Tensor:
    """φ(t) = (1 − t)³(1 + 3t + 6t²) on [0, 1), 0 beyond: φ(0) = 1, φ'(0) = φ''(0) = 0, C² at t = 1
    (one minus the smootherstep)."""
    t = t.clamp(0.0, 1.0)
    return (1 - t) ** 3 * (1 + 3 * t + 6 * t * t)


def _local_bases(width: float) -> dict[tuple[str | None, str | None], tuple[_Basis, ...]]:
    """The lift functions of width δ = ``width`` (a fraction of the axis): supported on
    [0, δ) (lower side) and (1 − δ, 1] (upper side)."""

    def d0(s: Tensor) -> Tensor:
        return _bump(s / width)

    def d1(s: Tensor) -> Tensor:
        return _bump((1 - s) / width)

    def n0(s: Tensor) -> Tensor:
        return s * _bump(s / width)

    def n1(s: Tensor) -> Tensor:
        return (s - 1) * _bump((1 - s) / width)

    side = {"dirichlet": (d0, d1), "neumann": (n0, n1)}
    out: dict[tuple[str | None, str | None], tuple[_Basis, ...]] = {}
    for lo in (None, "dirichlet", "neumann"):
        for up in (None, "dirichlet", "neumann"):
            if (lo, up) != (None, None):
                lower = () if lo is None else (side[lo][0],)
                upper = () if up is None else (side[up][1],)
                out[lo, up] = lower + upper
    return out


def check_width(width: float | None) -> float | None:
    """Validate the lift width δ (None: the global polynomials; else finite, 0 < δ <= 1)."""
    if width is None:
        return None
    if not (isinstance(width, int | float) and math.isfinite(width) and 0 < width <= 1):
        raise ValueError(f"BOON: lift_width must be None or a number in (0, 1], got {width!r}")
    return float(width)


def _kind(bc: BC | None) -> str | None:
    return bc.kind if isinstance(bc, Dirichlet | Neumann) else None


def lift_basis(lo: BC | None, up: BC | None, coords: Tensor, width: float | None = None) -> Tensor:
    """The lift functions ψ_j on ``coords`` (N,) for the side pair: (J, N) float64 (J = number of
    Dirichlet/Neumann sides; (0, N) when there are none); ``width`` δ: the local functions of
    width δ (module docstring), None: the global polynomials."""
    key = (_kind(lo), _kind(up))
    c = coords.to(torch.float64)
    if key == (None, None):
        return c.new_zeros(0, c.numel())
    s = (c - c[0]) / (c[-1] - c[0])
    bases = _BASES if width is None else _local_bases(width)
    return torch.stack([f(s) for f in bases[key]])


def _functional(
    bc: BC, side: int, coords: Tensor, flux_order: int | None = None
) -> tuple[list[int], list[float]]:
    """(nodes, weights) of L_s: the end value (Dirichlet) or the Neumann stencil — the side's own,
    or with ``flux_order`` q the one-sided stencil of order min(q, N − 2) (module docstring)."""
    n = coords.numel()
    if isinstance(bc, Dirichlet):
        return [0 if side == 0 else n - 1], [1.0]
    assert isinstance(bc, Neumann)
    stencil = bc.stencil if flux_order is None else OneSidedStencil(min(flux_order, n - 2))
    w = stencil.weights(coords, "lower" if side == 0 else "upper")
    return list(w.nodes), list(w.weights)


def check_flux_order(flux_order: int | None) -> int | None:
    """Validate the lift's flux-reading stencil order (None: the Neumann side's own stencil)."""
    if flux_order is None:
        return None
    if isinstance(flux_order, bool) or not isinstance(flux_order, int) or not 1 <= flux_order <= 6:
        raise ValueError(f"BOON: flux_order must be None or an int in 1..6, got {flux_order!r}")
    return flux_order


def _apply(u: Tensor, dim: int, nodes: list[int], weights: list[float]) -> Tensor:
    out = weights[0] * u.select(dim, nodes[0])
    for n, w in zip(nodes[1:], weights[1:], strict=True):
        out = out + w * u.select(dim, n)
    return out


def lift_operator(
    lo: BC | None,
    up: BC | None,
    coords: Tensor,
    data_only: tuple[type, ...] = (),
    width: float | None = None,
    flux_order: int | None = None,
) -> tuple[Tensor, Tensor, Tensor, list[int]]:
    r"""The lift of one axis as matrices (float64): ``(L, R, Ψ, sides)`` with L (N, S) the
    functionals read from the field (a zero column for a ``data_only`` side), R = M⁻ᵀ (S, J),
    Ψ (J, N) and the side indices (0 lower, 1 upper) in order, so that along the axis

    .. math:: \mathrm{lift}(u) = u + (g - u L) R \Psi = u (I - L R \Psi) + g R \Psi.
    """
    n = coords.numel()
    psi = lift_basis(lo, up, coords, width)  # (J, N)
    sides = [(s, bc) for s, bc in enumerate((lo, up)) if isinstance(bc, Dirichlet | Neumann)]
    lmat = torch.zeros(n, len(sides), dtype=torch.float64)
    m = torch.zeros(len(sides), len(sides), dtype=torch.float64)
    for k, (s, bc) in enumerate(sides):
        nodes, w = _functional(bc, s, coords, flux_order)
        f = torch.zeros(n, dtype=torch.float64)
        f[nodes] = torch.tensor(w, dtype=torch.float64)
        m[k] = psi @ f  # L_s ψ_j
        if not isinstance(bc, data_only):
            lmat[:, k] = f
    # rows in units of the wall coordinate ξ (a Neumann row is d/dx = (d/dξ) / span)
    span = float(coords[-1] - coords[0])
    rows = torch.tensor([span if isinstance(bc, Neumann) else 1.0 for _, bc in sides])
    cond = float(torch.linalg.cond(rows.to(m)[:, None] * m)) if m.numel() else 1.0
    if not cond <= 1e6:  # also inf / nan (singular)
        raise ValueError(
            f"BOON: the boundary lift of width {width} is not resolved on a grid of {n} nodes "
            f"(its side functionals are nearly dependent, cond {cond:.3g}); use a wider "
            "lift_width or a finer grid"
        )
    return lmat, torch.linalg.inv(m).T, psi, [s for s, _ in sides]


def smooth_lift(
    u: Tensor,
    bcs: BoundaryConditions,
    values: Mapping[str, tuple[Tensor | None, Tensor | None]],
    coords: Mapping[str, Tensor],
    names: Sequence[str],
    data_only: tuple[type, ...] = (),
    width: float | None = None,
    flux_order: int | None = None,
) -> Tensor:
    """``u`` (B, C, *grid) plus the smooth lift of every Dirichlet/Neumann axis (module docstring);
    periodic and free sides are left alone. Sides whose kind is in ``data_only`` inject their data
    without reading the field (residual :math:`g_s` instead of :math:`g_s - L_s u`)."""
    axes = [ax for ax in bcs.axes(names) if (_kind(ax[2]), _kind(ax[3])) != (None, None)]
    axes.sort(key=lambda ax: 0 if Neumann in (type(ax[2]), type(ax[3])) else 1)
    for i, name, lo, up in axes:
        dim = 2 + i
        c = coords[name]
        lmat, r_mat, psi, sides = lift_operator(lo, up, c.cpu(), data_only, width, flux_order)
        # residual g - L u, per wall point: (B, C, *wall, S)
        targets = [values[name][s] for s in sides]
        g = torch.stack([t.unsqueeze(1).to(u.dtype) for t in targets if t is not None], dim=-1)
        rows = torch.nonzero(lmat.abs().sum(1)).flatten()  # the few nodes the functionals read
        lu = torch.movedim(u.index_select(dim, rows.to(u.device)), dim, -1) @ lmat[rows].to(u)
        coef = (g - lu) @ r_mat.to(u)  # (B, C, *wall, J)
        if dim == u.ndim - 1:  # one fused pass: u + coef @ psi
            u = torch.baddbmm(
                u.flatten(0, -2).unsqueeze(0),
                coef.flatten(0, -2).unsqueeze(0),
                psi.to(u).unsqueeze(0),
            ).reshape(u.shape)
        else:
            u = u + torch.movedim(coef @ psi.to(u), -1, dim)
    return u
