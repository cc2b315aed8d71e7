r"""The compared models of the BOON experiments, their losses, and the target scale.

Every model is one FNO architecture initialised from the same seed (``cfg.seed``), wrapped so that
all see the same input and are trained on the same loss with the same schedule:

* ``fno``: u₀ ↦ u; never any boundary value;
* on a **closed periodic** axis (periodic Burgers: node N − 1 repeats node 0) every FNO model
  works on the open grid, as BOON does: the repeated node is dropped before the network and node
  0 re-attached after it (:func:`periodic_dims`), so the FFT sees the N − 1 distinct nodes of one
  period and no seam; the prediction is exactly periodic. (Before, the FNOs transformed all N
  nodes, a grid one node longer than the period, and their error at the seam counted against
  them.)
* ``fno_bc``: u₀ and the boundary data of the target time(s) as extra input channels, each
  face's value broadcast along the constrained axis: a (B, C, *space[, T]) input becomes
  (B, C + F·C_bc, *space[, T]) with F the faces that carry values (a periodic case has none, so
  ``fno_bc`` = ``fno`` with the same input);
* ``fno_soft``: the FNO trained on rel. L2 + λ·P, P the boundary residual
  :math:`P_i = \mathrm{rms}(r_i)/\mathrm{rms}(u_i)` of each sample (r the residual of
  :func:`pcml.experiments.boon.metrics.boundary_residuals` with BOON's stencil orders), λ chosen
  from ``cfg.soft_weights`` on the validation split (:mod:`pcml.experiments.boon.runner`);
* ``boon`` / ``boon_reference`` / ``boon_none``: :class:`pcml.models.boon.BOON` (channel-wise
  elimination / the article's scalar probes / no elimination), receiving the prescribed values.

1-D: :class:`BoundarySurrogate` maps u₀ (B, C, *space) to (B, C, *space) (single-step) or to
(B, C, *space, T) (input repeated over the T frames). 2-D: :class:`Surrogate2D` wraps it with the
residual-in-time base and the cavity's lift (:mod:`pcml.experiments.boon.cases2d`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from pcml.constraints.boundary import (
    BoundaryConditions,
    Periodic,
    apply_boundary_conditions,
    axis_coords,
    wall_values,
)
from pcml.experiments.boon.cases import get_case
from pcml.experiments.boon.cases2d import INCREMENT_POWER, INCREMENT_SCALING_2D, RESIDUAL_2D
from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.boon.data2d import FACES
from pcml.experiments.boon.metrics import boundary_residuals, rel_l2_per_sample
from pcml.models.boon import BOON
from pcml.models.fno import FNO

__all__ = [
    "BoundarySurrogate",
    "Surrogate2D",
    "TensorDictDataset",
    "build_model",
    "build_model_2d",
    "frame_loss",
    "frame_rel_l2",
    "periodic_dims",
    "rel_l2_loss",
    "soft_penalty",
    "target_scale",
]


class TensorDictDataset(Dataset[dict[str, Tensor]]):
    """In-memory dataset: item i = ``{key: tensor[i]}`` (flat, as ``pcml.train.fit`` expects)."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        sizes = {int(t.shape[0]) for t in tensors.values()}
        if len(sizes) != 1:
            raise ValueError(f"TensorDictDataset: leading sizes differ: {sizes}")
        self.tensors = dict(tensors)
        self.n = sizes.pop()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


def _bc_channels(a: Tensor, bc: Mapping[str, Tensor], faces: tuple[str, ...]) -> Tensor:
    """Each face's value v (B, *c[, T]) broadcast over the spatial axes of ``a`` (B, C, *space,
    [T]) as extra channels; v's trailing dims align with ``a``'s trailing dims (frames, or a
    per-channel wall for 2-D: (B, C, n_wall, 1) is broadcast along the face's normal)."""
    chans = []
    for face in faces:
        v = bc[face].to(a.dtype)
        if v.ndim >= 3:  # 2-D wall data (B, C, n_wall, 1): broadcast along the face's normal
            axis = 0 if face.startswith("x") else 1
            w = v[..., 0]  # (B, C, n_wall)
            w = w.unsqueeze(2 + axis)  # (B, C, 1, n) for x faces, (B, C, n, 1) for y faces
            w = w.reshape(*w.shape, *([1] * (a.ndim - w.ndim)))
            chans.append(w.expand(a.shape[0], w.shape[1], *a.shape[2:]))
        else:  # 1-D values (B,) or (B, T)
            shape = (a.shape[0], 1, *([1] * (a.ndim - 2 - (v.ndim - 1))), *v.shape[1:])
            chans.append(v.reshape(shape).expand(a.shape[0], 1, *a.shape[2:]))
    return torch.cat([a, *chans], dim=1)


class BoundarySurrogate(nn.Module):
    """u₀ (B, C, *space) ↦ prediction (B, C, *space) or (B, C, *space, T) (``n_frames`` = T).

    ``forward(x, bc)``: ``bc`` = ``{"<axis>_<side>": (B, *s)}`` prescribed values of the target
    time(s); a plain FNO ignores them, ``fno_bc`` reads the faces ``bc_faces`` as input channels
    (divided by ``scale``, as BOON's values), BOON enforces them."""

    def __init__(
        self,
        net: FNO | BOON,
        n_frames: int | None,
        scale: float = 1.0,
        bc_faces: tuple[str, ...] = (),
        open_dims: tuple[int, ...] = (),
    ) -> None:
        super().__init__()
        _check_scale(scale)
        if open_dims and not isinstance(net, FNO):
            raise ValueError("open_dims is for FNO nets (BOON drops closed-periodic nodes itself)")
        if any(d < 2 for d in open_dims):
            raise ValueError(f"open_dims must be grid dims (>= 2), got {open_dims}")
        self.net = net
        self.n_frames = n_frames
        self.scale = float(scale)
        self.bc_faces = tuple(bc_faces)
        self.open_dims = tuple(open_dims)

    def forward(self, x: Tensor, bc: Mapping[str, Tensor] | None = None) -> Tensor:
        a = x if self.n_frames is None else x.unsqueeze(-1).expand(*x.shape, self.n_frames)
        s = self.scale
        if isinstance(self.net, FNO):
            if self.bc_faces:
                if bc is None or any(f not in bc for f in self.bc_faces):
                    raise ValueError(f"fno_bc needs boundary values for faces {self.bc_faces}")
                a = _bc_channels(a, {f: bc[f] / s for f in self.bc_faces}, self.bc_faces)
            for d in self.open_dims:  # closed periodic axis: the network sees one period
                a = a.narrow(d, 0, a.shape[d] - 1)
            out = self.net(a)
            for d in self.open_dims:  # re-attach node N - 1 = node 0
                out = torch.cat([out, out.narrow(d, 0, 1)], dim=d)
            return out if s == 1.0 else s * out
        values: dict[str, tuple[Tensor | None, Tensor | None]] = {}
        for axis in self.net.bcs.sides:
            lo, up = self.net.bcs.needs_value(axis)
            if lo or up:
                bc = bc or {}
                lv, uv = bc.get(f"{axis}_lower"), bc.get(f"{axis}_upper")
                if s != 1.0:  # exact: s is a power of two
                    lv, uv = (None if v is None else v / s for v in (lv, uv))
                values[axis] = (lv, uv)
        out = self.net(a, values or None)
        return out if s == 1.0 else s * out


# The public name of the 1-D surrogate is ``pcml.experiments.boon.BoundarySurrogate`` (the
# package re-exports it): checkpoints record the class by module and name, and runs written
# before the package layout must keep resuming.
BoundarySurrogate.__module__ = "pcml.experiments.boon"


def _check_scale(scale: float) -> None:
    m, _ = math.frexp(scale)
    if not (math.isfinite(scale) and scale > 0 and m == 0.5):
        raise ValueError(f"scale must be a positive power of two (exact scaling), got {scale!r}")


def periodic_dims(bcs: BoundaryConditions, names: tuple[str, ...]) -> tuple[int, ...]:
    """Tensor dims (2 + grid index) of the closed-periodic axes of ``bcs`` on grid ``names``:
    where an FNO drops the repeated node (module docstring)."""
    return tuple(2 + i for i, _, lo, _ in bcs.axes(names) if isinstance(lo, Periodic) and lo.closed)


def target_scale(y: Tensor) -> float:
    r"""s = 2^round(log₂ rms(y)) of the training targets y (n, C, *grid): the power of two nearest
    their root mean square. Models predict u/s (and BOON receives α/s): the relative-L2 loss is
    unchanged, but the network's output layer works at unit scale. A power of two makes the
    scaling exact in floating point, so Dirichlet values stay bitwise and the Neumann relation
    (linear in u and α) stays exact to round-off."""
    rms = float(y.double().pow(2).mean().sqrt())
    if not (math.isfinite(rms) and rms > 0):
        raise ValueError(f"target_scale: training targets have rms {rms}, expected finite > 0")
    return math.ldexp(1.0, round(math.log2(rms)))


_MODES: dict[str, Literal["extension", "channelwise", "reference", "none"]] = {
    "boon": "channelwise",
    "boon_extension": "extension",
    "boon_reference": "reference",
    "boon_none": "none",
}


def build_model(
    cfg: BoonConfig,
    key: str,
    bcs: BoundaryConditions,
    channels: tuple[int, int],
    n_frames: int | None = None,
    scale: float = 1.0,
    bc_faces: tuple[str, ...] = (),
    bc_channels: int = 1,
) -> BoundarySurrogate:
    """Model ``key`` ("fno" | "fno_bc" | "fno_soft" | "boon" (the channel-wise elimination,
    validated in wave 1) | "boon_extension" (the resolution-invariant extension mode, BOON's
    library default) | "boon_reference" | "boon_none"),
    weights drawn from ``cfg.seed``; ``n_frames``: T for multi-step (input repeated over T
    frames), None for single-step; ``scale``: output scale s (a power of two,
    :func:`target_scale`), the same for every model (with ``boon.hidden_values = "physical"``
    BOON's hidden layers get s·(α/s) = α); ``bc_faces``: the faces whose values ``fno_bc`` reads
    (``bc_channels`` channels each)."""
    m = cfg.model
    case = get_case(cfg.case)
    torch.manual_seed(cfg.seed)
    extra = len(bc_faces) * bc_channels if key == "fno_bc" else 0
    fno = FNO(
        m.n_modes,
        channels[0] + extra,
        channels[1],
        m.hidden_channels,
        m.n_layers,
        projection_channels=m.projection_channels,
        padding=m.padding,
    )
    if key.startswith("fno"):
        faces = bc_faces if key == "fno_bc" else ()
        dims = periodic_dims(bcs, case.grid_axes(cfg.multi_step))
        return BoundarySurrogate(fno, n_frames, scale, faces, dims)
    net = BOON(
        fno,
        bcs,
        mode=_MODES[key],
        neumann_half=cfg.boon.neumann_half,
        eps=cfg.boon.eps,
        reference_tol=cfg.boon.reference_tol,
        axis_names=case.grid_axes(cfg.multi_step),
        mask_activation=cfg.boon.mask_activation,
        hidden_value_scale=scale if cfg.boon.hidden_values == "physical" else 1.0,
    )
    return BoundarySurrogate(net, n_frames, scale)


class Surrogate2D(nn.Module):
    r"""a (B, C, n_x, n_y) ↦ (B, C, n_x, n_y, T): FNO → base + net(a); BOON → base + net(a; 0).

    ``inner``: a :class:`BoundarySurrogate` (input repeated over T frames). BOON gets
    homogeneous values on all four walls; ``fno_bc`` reads the wall data ``walls`` (B, C, n, 1)
    per face as channels broadcast along the face's normal. ``base`` (broadcast over frames):

    * ``residual=False``: 0 for the FNOs; for BOON the lift L (B, C, n_x, n_y) of the prescribed
      Dirichlet wall data (cavity, required when ``lifted``) or 0 (wave);
    * ``residual=True`` (the 2-D profiles, :data:`pcml.experiments.boon.cases2d.RESIDUAL_2D`): the
      models predict the increment u(t) − u(0). FNOs: base = a. BOON: base = L + 𝓑₀(a − L), with
      𝓑₀ the model's own homogeneous output enforcement
      (:func:`pcml.constraints.boundary.apply_boundary_conditions`, x faces then y faces): Dirichlet
      walls := L (for the cavity a already holds L there, so base = a bitwise), Neumann walls
      solved from the stencil with zero flux. BOON's increment satisfies the homogeneous BCs and
      𝓑₀ is linear, so the sum satisfies the prescribed ones exactly (Dirichlet bitwise, Neumann
      to round-off). The FNO's base is the raw input: it receives no boundary information.

    ``time_power`` p > 0 (residual only; "linear" p = 1, "quadratic" p = 2 of
    :data:`pcml.experiments.boon.cases2d.INCREMENT_SCALING_2D`): the network output of frame k is
    multiplied by τ_k^p, τ_k = k/T, so û(t_k) = base + τ_k^p N(a)_k equals the base at τ = 0, for
    every model alike. A scalar per frame keeps BOON's homogeneous wall relations, so the walls
    stay exact. ``forward(x, lift, tau, walls)``: ``tau`` (T,) overrides k/T (tests).
    """

    def __init__(
        self,
        inner: BoundarySurrogate,
        lifted: bool,
        residual: bool = False,
        time_power: int = 0,
    ) -> None:
        super().__init__()
        if time_power < 0 or (time_power and not residual):
            raise ValueError(
                f"Surrogate2D: time_power must be >= 0 and needs residual=True, got "
                f"time_power={time_power}, residual={residual}"
            )
        self.inner, self.lifted = inner, lifted
        self.residual, self.time_power = residual, time_power

    def _base(self, x: Tensor, lift: Tensor | None) -> Tensor | None:
        """(B, C, n_x, n_y) added to every frame, or None (docstring)."""
        if self.lifted and lift is None:
            raise ValueError("Surrogate2D: lifted BOON needs lift (B, C, n_x, n_y)")
        lift = lift.to(x.dtype) if self.lifted and lift is not None else None
        if not self.residual:
            return lift
        if isinstance(self.inner.net, FNO):
            return x
        net = self.inner.net
        names = tuple(net.names[:2])
        zero = {ax: (x.new_zeros(x.shape[0]), x.new_zeros(x.shape[0])) for ax in ("x", "y")}
        vals = wall_values(net.bcs, zero, names, x)
        coords = {n: axis_coords(None, n, x.shape[2 + i]) for i, n in enumerate(names)}
        free = x if lift is None else x - lift
        base = apply_boundary_conditions(free, net.bcs, vals, coords, names)
        return base if lift is None else base + lift

    def forward(
        self,
        x: Tensor,
        lift: Tensor | None = None,
        tau: Tensor | None = None,
        walls: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        if isinstance(self.inner.net, FNO):
            out = self.inner(x, walls) if self.inner.bc_faces else self.inner(x)
        else:
            zero = x.new_zeros(x.shape[0])
            out = self.inner(x, dict.fromkeys(FACES, zero))
        if tau is not None and tuple(tau.shape) != (out.shape[-1],):
            raise ValueError(
                f"Surrogate2D: tau must have shape ({out.shape[-1]},), got {tuple(tau.shape)}"
            )
        if self.time_power:
            n_t = out.shape[-1]
            if tau is None:
                tau = torch.arange(1, n_t + 1, dtype=out.dtype, device=out.device) / n_t
            out = out * tau.to(out.dtype) ** self.time_power
        base = self._base(x, lift)
        return out if base is None else out + base.unsqueeze(-1).to(out.dtype)


def build_model_2d(
    cfg: BoonConfig,
    key: str,
    bcs: BoundaryConditions,
    channels: int,
    residual: bool | None = None,
    time_power: int | None = None,
) -> Surrogate2D:
    """Model ``key`` of a 2-D ``cfg`` (weights from ``cfg.seed``); ``residual`` and
    ``time_power`` default to :data:`pcml.experiments.boon.cases2d.RESIDUAL_2D` and the power of
    ``INCREMENT_SCALING_2D[case]``; ``fno_bc`` reads the 4 faces' wall data (C channels each)."""
    inner = build_model(cfg, key, bcs, (channels, channels), 25, bc_faces=FACES,
                        bc_channels=channels)  # fmt: skip
    res = RESIDUAL_2D if residual is None else residual
    default = INCREMENT_POWER[INCREMENT_SCALING_2D[cfg.case]] if res else 0
    p = default if time_power is None else time_power
    lifted = key.startswith("boon") and cfg.case == "cavity"
    return Surrogate2D(inner, lifted=lifted, residual=res, time_power=p)


def bc_batch(batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``{face: values}`` of the ``bc_<face>`` entries of a batch."""
    return {k[3:]: v for k, v in batch.items() if k.startswith("bc_")}


def apply_model(model: nn.Module, batch: Mapping[str, Tensor]) -> Tensor:
    """The prediction of ``model`` (1-D or 2-D surrogate) on a batch of the split tensors."""
    if isinstance(model, Surrogate2D):
        return model(batch["x"], batch.get("lift"), walls=bc_batch(batch))
    return model(batch["x"], bc_batch(batch))


def rel_l2_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Mean over the batch of the per-sample relative L2 error (the article's ``LpLoss.rel``)."""
    return rel_l2_per_sample(apply_model(model, batch), batch["y"]).mean()


def frame_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    r"""Mean over the batch and the T frames of :math:`\|\hat u_k - u_k\|/\|u_k\|` (2-D: the
    per-frame metric), so that every frame weighs the same whatever its norm."""
    return frame_rel_l2(apply_model(model, batch), batch["y"])


def frame_rel_l2(pred: Tensor, y: Tensor) -> Tensor:
    """Mean over samples and frames of the per-frame relative L2 of ``pred``, ``y``: (B, C, n_x,
    n_y, T)."""
    err = (pred - y).pow(2).sum(dim=(1, 2, 3)).sqrt()  # (B, T)
    return (err / y.pow(2).sum(dim=(1, 2, 3)).sqrt()).mean()


def soft_penalty(
    pred: Tensor,
    true: Tensor,
    bcs: BoundaryConditions,
    values: Mapping[str, Tensor],
    names: tuple[str, ...],
) -> Tensor:
    r""":math:`P_i = \mathrm{rms}(r_i)/\mathrm{rms}(u_i)` per sample (B,): r the boundary
    residuals of ``pred`` (B, C, *grid) on every face (Dirichlet û_b − α, Neumann Dû − g with the
    stencils of ``bcs``, periodic û_0 − û_{N−1}); 2-D values (B, C, n, 1) are applied per
    channel."""
    if next(iter(values.values()), torch.zeros(0)).ndim >= 3:  # 2-D walls, per channel
        res = [
            r
            for c in range(pred.shape[1])
            for r in boundary_residuals(
                pred[:, c : c + 1], bcs, {f: w[:, c] for f, w in values.items()}, names
            ).values()
        ]
    else:
        res = list(boundary_residuals(pred, bcs, values, names).values())
    if not res:
        return pred.new_zeros(pred.shape[0])
    r2 = torch.cat([r.flatten(1) for r in res], 1).pow(2).mean(1)
    y2 = true.flatten(1).pow(2).mean(1).clamp_min(torch.finfo(true.dtype).tiny)
    ratio = r2 / y2
    # a residual that is exactly 0 (an FNO on the open grid of a periodic axis): value 0 and
    # gradient 0, not sqrt'(0) · 0 = NaN; every other value is unchanged bitwise
    positive = ratio > 0
    return torch.where(positive, torch.where(positive, ratio, 1.0).sqrt(), 0.0)
