r"""Field metrics of the BOON experiments, on the test split only.

* relative L2 per sample, :math:`\|\hat u_i - u_i\|_2 / \|u_i\|_2` over the flattened sample
  (all grid nodes and frames), averaged over the test samples (``rel_l2``) with its standard error
  (``rel_l2_se`` = std / √n);
* ``rel_l2_near_boundary``: the same restricted to the ``k`` nodes nearest each end of every
  constrained axis (reference §12.3);
* boundary residuals r per face, for every test sample and wall node / frame:

  - Dirichlet: :math:`r = \hat u_b - \alpha`;
  - Neumann: :math:`r = D\hat u_b - g` with D the one-sided stencil BOON enforces (orders from the
    config, weights from the grid of the evaluation, so 2× resolution uses h/2), and a
    high-order variant (6th-order stencil, ``boundary_error_hi_order``) that estimates the
    continuous flux error :math:`\partial_x \hat u - g`;
  - periodic: :math:`r = \hat u_0 - \hat u_{N-1}`;

  ``boundary_error`` = mean |r| over faces, samples and wall nodes; ``boundary_error_max`` =
  max |r|; ``boundary_error_<face>`` = mean |r| of one face (Figure 1 of the article reports
  the absolute derivative error at each end).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from pcml.constraints.boundary import BoundaryConditions, Dirichlet, Neumann, Periodic
from pcml.constraints.stencils import OneSidedStencil
from pcml.experiments.boon.data2d import FACES, curl

__all__ = [
    "HI_ORDER",
    "boundary_conditions",
    "boundary_residuals",
    "field_metrics",
    "metrics_2d",
    "paired_per_frame",
    "rel_l2_per_sample",
]

HI_ORDER = 6


def rel_l2_per_sample(pred: Tensor, true: Tensor) -> Tensor:
    """‖pred_i − true_i‖₂ / ‖true_i‖₂ over each flattened sample: (B, ...) → (B,)."""
    if pred.shape != true.shape:
        raise ValueError(f"rel_l2: pred {tuple(pred.shape)} and true {tuple(true.shape)} differ")
    diff = (pred - true).flatten(1).norm(dim=1)
    return diff / true.flatten(1).norm(dim=1).clamp_min(torch.finfo(true.dtype).tiny)


def boundary_conditions(
    bc_kinds: Mapping[str, str], neumann_orders: tuple[int, int] = (3, 3)
) -> BoundaryConditions:
    """BC specs from a dataset's ``{"x_lower": "neumann", ...}`` (orders: (lower, upper))."""
    sides: dict[str, list[Dirichlet | Neumann | Periodic | None]] = {}
    for face, kind in bc_kinds.items():
        axis, _, side = face.rpartition("_")
        if side not in ("lower", "upper") or not axis:
            raise ValueError(f"bc_kinds: face {face!r} must be '<axis>_lower' or '<axis>_upper'")
        s = 0 if side == "lower" else 1
        spec: Dirichlet | Neumann | Periodic
        if kind == "dirichlet":
            spec = Dirichlet()
        elif kind == "neumann":
            spec = Neumann(neumann_orders[s])
        elif kind == "periodic":
            spec = Periodic("closed")  # the BOON generators' periodic grids repeat node 0
        else:
            raise ValueError(f"bc_kinds[{face!r}] = {kind!r}; expected dirichlet/neumann/periodic")
        sides.setdefault(axis, [None, None])[s] = spec
    return BoundaryConditions({a: (p[0], p[1]) for a, p in sides.items()})


def boundary_residuals(
    u: Tensor,
    bcs: BoundaryConditions,
    values: Mapping[str, Tensor],
    names: Sequence[str],
    stencil_order: int | None = None,
) -> dict[str, Tensor]:
    """Residuals r per face (module docstring) of ``u`` (B, C, *grid) on linspace(0, 1, N) axes.

    ``values``: ``{"<axis>_<side>": (B, *s)}`` broadcastable to the wall (B, *wall);
    ``stencil_order`` overrides the Neumann orders of ``bcs`` (for the high-order estimate). Returns
    ``{face: (B, C, *wall)}``; a periodic axis gives one entry ``"<axis>_periodic"``.
    """
    out: dict[str, Tensor] = {}
    for i, name, lo, up in bcs.axes(names):
        dim, n = 2 + i, u.shape[2 + i]
        if isinstance(lo, Periodic):
            out[f"{name}_periodic"] = u.select(dim, 0) - u.select(dim, n - 1)
            continue
        coords = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
        for side, bc in (("lower", lo), ("upper", up)):
            if bc is None:
                continue
            face = f"{name}_{side}"
            wall = u.select(dim, 0 if side == "lower" else n - 1)
            v = values[face].to(u.dtype)
            v = v.reshape(v.shape[0], *([1] * (wall.ndim - v.ndim)), *v.shape[1:]).expand_as(wall)
            if isinstance(bc, Dirichlet):
                out[face] = wall - v
            else:
                assert isinstance(bc, Neumann)
                order = bc.order if stencil_order is None else stencil_order
                w = OneSidedStencil(order).weights(coords, side)  # type: ignore[arg-type]
                out[face] = w.apply(u, dim) - v
    return out


def _summary(res: Mapping[str, Tensor], prefix: str) -> dict[str, float]:
    if not res:
        return {}
    flat = torch.cat([r.abs().flatten() for r in res.values()])
    out = {prefix: float(flat.mean()), f"{prefix}_max": float(flat.max())}
    for face, r in res.items():
        out[f"{prefix}_{face}"] = float(r.abs().mean())
    return out


def _near_boundary(pred: Tensor, true: Tensor, axes: Sequence[int], k: int) -> Tensor:
    """Per-sample relative L2 over the k nodes nearest each end of the grid dims ``axes``."""
    keep = torch.zeros(true.shape[2:], dtype=torch.bool)
    for ax in axes:
        n = true.shape[2 + ax]
        idx = torch.arange(n)
        near = (idx < k) | (idx >= n - k)
        shape = [1] * keep.ndim
        shape[ax] = n
        keep = keep | near.reshape(shape)
    mask = keep.expand_as(true[0, 0])
    p = pred[:, :, mask]
    t = true[:, :, mask]
    return rel_l2_per_sample(p, t)


def field_metrics(
    pred: Tensor,
    true: Tensor,
    bcs: BoundaryConditions,
    values: Mapping[str, Tensor],
    names: Sequence[str],
    near_boundary_nodes: int = 5,
) -> dict[str, float]:
    """All metrics of one model on one test set; ``pred``/``true``: (B, C, *grid)."""
    rel = rel_l2_per_sample(pred, true)
    n = rel.numel()
    out = {
        "rel_l2": float(rel.mean()),
        "rel_l2_se": float(rel.std() / math.sqrt(n)) if n > 1 else 0.0,
    }
    axes = [i for i, _, _, _ in bcs.axes(names)]
    if axes:
        near = _near_boundary(pred, true, axes, near_boundary_nodes)
        out["rel_l2_near_boundary"] = float(near.mean())
    out.update(_summary(boundary_residuals(pred, bcs, values, names), "boundary_error"))
    if any(isinstance(bc, Neumann) for _, _, lo, up in bcs.axes(names) for bc in (lo, up)):
        hi = boundary_residuals(pred, bcs, values, names, stencil_order=HI_ORDER)
        hi = {k: v for k, v in hi.items() if k in _neumann_faces(bcs, names)}
        out.update(_summary(hi, "boundary_error_hi_order"))
    return out


def _neumann_faces(bcs: BoundaryConditions, names: Sequence[str]) -> set[str]:
    faces = set()
    for _, name, lo, up in bcs.axes(names):
        for side, bc in (("lower", lo), ("upper", up)):
            if isinstance(bc, Neumann):
                faces.add(f"{name}_{side}")
    return faces


_rel = rel_l2_per_sample
_KIND_2D = {"cavity": "dirichlet", "wave2d": "neumann"}


def _summary_2d(res: Mapping[str, Tensor], prefix: str) -> dict[str, float]:
    flat = torch.cat([r.abs().flatten() for r in res.values()])
    out = {prefix: float(flat.mean()), f"{prefix}_max": float(flat.max())}
    out.update({f"{prefix}_{face}": float(r.abs().mean()) for face, r in res.items()})
    return out


def metrics_2d(
    pred: Tensor,
    true: Tensor,
    bcs: BoundaryConditions,
    walls: Mapping[str, Tensor],
    near: int,
    case: str,
) -> dict[str, Any]:
    """Metrics of one model (module docstring); ``pred``, ``true``: (B, C, n_x, n_y, T);
    ``walls[face]``: (B, C, n_wall, 1) prescribed wall data."""
    rel = _rel(pred, true)
    n = rel.numel()
    frames = [float(_rel(pred[..., k], true[..., k]).mean()) for k in range(true.shape[-1])]
    out: dict[str, Any] = {
        "rel_l2": float(rel.mean()),
        "rel_l2_se": float(rel.std() / math.sqrt(n)) if n > 1 else 0.0,
        "rel_l2_per_frame": frames,
    }
    nx, ny = true.shape[2:4]
    ix, iy = torch.arange(nx), torch.arange(ny)
    mask = ((ix < near) | (ix >= nx - near))[:, None] | ((iy < near) | (iy >= ny - near))[None, :]
    out["rel_l2_near_boundary"] = float(_rel(pred[:, :, mask], true[:, :, mask]).mean())
    names = ("x", "y", "t")
    orders: list[int | None] = [None, HI_ORDER] if _KIND_2D[case] == "neumann" else [None]
    for order, prefix in zip(orders, ("boundary_error", "boundary_error_hi_order"), strict=False):
        per_c = [
            boundary_residuals(
                pred[:, c : c + 1], bcs, {f: w[:, c] for f, w in walls.items()}, names, order
            )
            for c in range(pred.shape[1])
        ]
        out.update(_summary_2d({f: torch.cat([r[f] for r in per_c], 1) for f in FACES}, prefix))
    if case == "cavity":
        h = 1.0 / (nx - 1)
        wp, wt = curl(pred[:, 0], pred[:, 1], h), curl(true[:, 0], true[:, 1], h)
        out["vorticity_rel_l2"] = float(_rel(wp, wt).mean())
        out["vorticity_rel_l2_per_frame"] = [
            float(_rel(wp[..., k], wt[..., k]).mean()) for k in range(wt.shape[-1])
        ]
    return out


def paired_per_frame(pred: Tensor, base: Tensor, true: Tensor) -> dict[str, list[float]]:
    r"""Paired per-frame comparison of ``pred`` against ``base`` on the same test samples.

    :math:`d_{ik} = e_{ik}(\text{pred}) - e_{ik}(\text{base})` with :math:`e_{ik}` the relative L2
    of sample i at frame k; returns ``mean`` (the difference of the per-frame metrics), ``se``
    (std/√n over samples, the paired standard error) and ``frac_le`` (share of samples with
    d ≤ 0), each a list over the T frames. ``pred``, ``base``, ``true``: (B, C, n_x, n_y, T)."""
    if not pred.shape == base.shape == true.shape:
        raise ValueError(
            f"paired_per_frame: pred {tuple(pred.shape)}, base {tuple(base.shape)} and true "
            f"{tuple(true.shape)} must have the same shape"
        )
    d = torch.stack(
        [_rel(pred[..., k], true[..., k]) - _rel(base[..., k], true[..., k]) for k in
         range(true.shape[-1])], dim=-1,
    )  # fmt: skip
    n = d.shape[0]
    se = d.std(dim=0) / math.sqrt(n) if n > 1 else torch.zeros_like(d[0])
    return {
        "mean": d.mean(0).tolist(),
        "se": se.tolist(),
        "frac_le": (d <= 0).to(d.dtype).mean(0).tolist(),
    }
