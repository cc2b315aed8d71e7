r"""Field metrics for neural operators: relative L2, boundary error per BC kind, near-boundary L2.

* :func:`relative_l2`: :math:`\|\hat y - y\|_2 / (\|y\|_2 + \varepsilon)` per sample, the norms
  taken over **all non-batch dims** (channels and grid flattened, as the original FNO/BOON
  ``LpLoss.rel``; neuraloperator's ``LpLoss`` ratio with eps = 1e-8), then reduced over the batch by
  ``"mean"`` (default, what tables report), ``"sum"`` (neuralop's default) or ``"none"``.
* :func:`boundary_error`: per constrained side, the per-sample absolute boundary error —
  Dirichlet :math:`|u_b - \alpha|`; Neumann :math:`|D u - \alpha|` under the enforced stencil
  (order of the BC) **and** under a high-order reference stencil (default order 4) that measures
  the derivative error rather than the discrete relation; periodic :math:`|u_0 - u_{N-1}|` —
  averaged (or maxed) over channels and wall nodes.
* :func:`near_boundary_relative_l2`: relative L2 restricted to the ``width`` nodes nearest each end
  of one axis (BOON reference §12.3).

Shapes: ``pred``, ``target``: (B, C, *grid). BC values as for :class:`pcml.models.boon.BOON`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor

from pcml.constraints.boundary import (
    BCValues,
    BoundaryConditions,
    Dirichlet,
    Neumann,
    Periodic,
    axis_coords,
    default_axis_names,
    wall_values,
)
from pcml.constraints.stencils import OneSidedStencil

__all__ = ["boundary_error", "near_boundary_relative_l2", "relative_l2"]

Reduction = Literal["mean", "sum", "none"]


def _reduce(r: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return r.mean()
    if reduction == "sum":
        return r.sum()
    if reduction == "none":
        return r
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_pair(pred: Tensor, target: Tensor) -> None:
    if pred.shape != target.shape or pred.ndim < 2:
        raise ValueError(
            f"pred and target must have the same shape (B, ...); got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )


def relative_l2(
    pred: Tensor, target: Tensor, reduction: Reduction = "mean", eps: float = 1e-8
) -> Tensor:
    """‖pred − target‖₂ / (‖target‖₂ + eps) over all non-batch dims; (B,) for reduction="none"."""
    _check_pair(pred, target)
    num = (pred - target).flatten(1).norm(dim=1)
    den = target.flatten(1).norm(dim=1)
    return _reduce(num / (den + eps), reduction)


def near_boundary_relative_l2(
    pred: Tensor,
    target: Tensor,
    axis: int = 0,
    width: int = 5,
    reduction: Reduction = "mean",
    eps: float = 1e-8,
) -> Tensor:
    """Relative L2 on the ``width`` nodes nearest each end of grid axis ``axis`` (0-based)."""
    _check_pair(pred, target)
    dim = 2 + axis
    if not 0 <= axis < pred.ndim - 2 or not (1 <= width and 2 * width <= pred.shape[dim]):
        raise ValueError(
            f"near_boundary_relative_l2: axis {axis}/width {width} invalid for shape "
            f"{tuple(pred.shape)} (need 2*width <= nodes)"
        )
    n = pred.shape[dim]
    idx = torch.cat([torch.arange(width), torch.arange(n - width, n)]).to(pred.device)
    return relative_l2(pred.index_select(dim, idx), target.index_select(dim, idx), reduction, eps)


def boundary_error(
    pred: Tensor,
    bcs: BoundaryConditions | Mapping,
    values: BCValues | None = None,
    grid: Mapping[str, Tensor] | None = None,
    axis_names: Sequence[str] | None = None,
    reference_order: int = 4,
    reduce: Literal["mean", "max"] = "mean",
) -> dict[str, Tensor]:
    """Per-sample boundary errors (B,) keyed ``"{axis}.{side}.{measure}"``.

    measures: ``dirichlet``; ``neumann_stencil`` and ``neumann_reference``; ``periodic`` (key
    ``"{axis}.periodic"``). ``reduce`` over channels and wall nodes: "mean" or "max".
    """
    bcs = bcs if isinstance(bcs, BoundaryConditions) else BoundaryConditions(bcs)
    names = tuple(axis_names) if axis_names else default_axis_names(pred.ndim - 2)
    if reduce not in ("mean", "max"):
        raise ValueError(f"boundary_error: reduce must be 'mean' or 'max', got {reduce!r}")
    vals = wall_values(bcs, values, names, pred)
    ref = OneSidedStencil(reference_order)
    out: dict[str, Tensor] = {}

    def red(e: Tensor) -> Tensor:
        e = e.abs().flatten(1)
        return e.mean(dim=1) if reduce == "mean" else e.amax(dim=1)

    for i, name, lo, up in bcs.axes(names):
        dim, n = 2 + i, pred.shape[2 + i]
        coords = axis_coords(grid, name, n).to(pred.device)
        if isinstance(lo, Periodic):
            out[f"{name}.periodic"] = red(pred.select(dim, 0) - pred.select(dim, n - 1))
            continue
        for s, (side, bc) in enumerate((("lower", lo), ("upper", up))):
            v = vals[name][s]
            if v is None:
                continue
            v = v.unsqueeze(1).to(pred.dtype)
            key = f"{name}.{side}"
            node = 0 if s == 0 else n - 1
            if isinstance(bc, Dirichlet):
                out[f"{key}.dirichlet"] = red(pred.select(dim, node) - v)
            elif isinstance(bc, Neumann):
                w = bc.stencil.weights(coords, side)  # type: ignore[arg-type]
                out[f"{key}.neumann_stencil"] = red(w.apply(pred, dim) - v)
                wr = ref.weights(coords, side)  # type: ignore[arg-type]
                out[f"{key}.neumann_reference"] = red(wr.apply(pred, dim) - v)
    return out
