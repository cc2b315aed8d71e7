r"""BOON: a neural operator whose outputs meet the boundary conditions by construction, at any
resolution and for any channels-first operator.

Saad, Gupta, Alizadeh, Maddix, ICLR 2023 (the idea: correct the operator's kernels so the BCs
hold); pcml's default formulation ``mode="extension"`` is new and resolution-invariant
(boon.md §15).

**Extension mode (default).** For an operator with layers :math:`v \mapsto \sigma(\mathcal K v +
Wv + b)` on a grid with bounded axes (Dirichlet/Neumann sides) every *visible* spectral
convolution (pcml's and neuraloperator's ``SpectralConv``) is replaced by

.. math::
    v \mapsto \tilde{\mathcal K} v + \Lambda_g[\tilde{\mathcal K} v],\qquad
    \tilde{\mathcal K} v = \big(\mathcal K_M\, \mathrm{pad}_M(\tau v)\big)\big|_{[0,N)},

* :math:`\tilde{\mathcal K}`: the trapezoid-weighted (τ: end nodes × ½), zero-extended
  convolution on :math:`M = (1 + f)(N - 1)` nodes (:mod:`pcml.models.boon_extension`): the walls
  are a fixed distance f apart on the FFT circle, and the layer is the trapezoid rule of a fixed
  integral operator, so it converges like :math:`O(h^2)`;
* :math:`\Lambda_g` (``hidden_lift=True``): the boundary data enter every spectral layer as
  *functions* — the smooth lift of the data alone (:mod:`pcml.models.boon_lift` with every side
  ``data_only``), :math:`w \mapsto w + \lambda\sum_j c_j \psi_j(\xi)`, :math:`Mc = g`
  (Dirichlet values and Neumann fluxes; no hidden value or stencil is read). Weight O(1) at every
  N — never one node's value. λ = ``hidden_value_scale``. Chosen on a validation split (Stokes,
  quick profile, 80 / 20 of the training trajectories, rel. L2, with the global lift functions):
  this injection 0.053, no hidden lift 0.138, a lift that also matches the hidden walls to λα
  0.164, FNO 0.058.
* ψ_j: the *local* lift functions of width δ = ``lift_width`` (default 0.2 of the axis; ``None``:
  the global polynomials 1 − ξ, ξ, … of the first formulation), for the hidden and the output
  lift. With global functions a wall mismatch of the raw network is spread over the whole domain
  as a ramp; trained (Stokes-Dirichlet, quick profile, 3 seeds, rel. L2 at N) that gave 0.091
  against the plain FNO's 0.042; the local functions correct only within δ of the wall: 0.026
  (δ = 0.2 chosen on a validation split; :mod:`pcml.models.boon_lift`; ``docs/results/boon.md``,
  issue #13).

The output :math:`u = Q(v_L)` then gets the smooth lift :math:`u \leftarrow u + \sum_j c_j
\psi_j`, :math:`Mc = g - Lu` (Dirichlet: end values; Neumann: the stencil of the call's grid on
the represented field), and the exact discrete enforcement
(:func:`~pcml.constraints.boundary.apply_boundary_conditions`): Dirichlet values bitwise, the
Neumann stencil relation to round-off, closed-periodic ends bitwise equal, corners by
:data:`~pcml.constraints.boundary.CORNER_RULE` (Dirichlet wins). After the lift that last step
moves a node only by round-off (away from corners), so the output is smooth up to the wall and a
high-order (e.g. 6th-order) flux estimate of it equals the prescribed flux up to the stencil's
truncation error.

**Scaling and convergence order.** Every ingredient is a fixed continuum object sampled on the
grid: :math:`\tilde{\mathcal K}` is the trapezoid rule (error :math:`O(h^2)` for smooth v), the
ψ_j are fixed (C²) functions of the wall coordinate with O(1) weight, and the lift coefficients read
point values (:math:`O(h^2)`) or a p-th order stencil (:math:`O(h^p)`) of smooth fields. So the
output converges like :math:`O(h^{\min(2, p)})` on nested grids. Measured (tests, width 32,
16 modes, spectral weights ×32, float64, relative change per doubling N = 129 → 1025, local lift
δ = 0.2): Dirichlet (1, −0.5) 5.9e-4, 1.5e-4, 3.7e-5 (order 2.0; global lift 7.9e-4, 2.0e-4,
4.9e-5); Neumann (0, 1), 2nd-order stencil, flux read with the 6th-order stencil
(``flux_order``) 4.8e-5, 9.4e-6, 2.6e-6 (order 2.1; read with the side's own stencil 8.4e-4,
1.4e-4, 2.5e-5; global lift 3.4e-2, 7.3e-3, 1.6e-3); the plain FNO on the same closed grids
1.8e-4, 8.9e-5, 4.4e-5 (order 1.0: its FFT period Nh moves with N). The article's elimination
(``mode="channelwise"``) changes by 0.15, 4.5e-2, 1.7e-2 (Dirichlet) on the same test.

**Any operator.** Where no spectral convolution is visible (any other ``nn.Module``) only the
output lift and exact enforcement run (``enforcement == "output"``, resolution behaviour that of
the operator). Periodic axes: ``Periodic(grid="open")`` needs nothing (the FFT is periodic);
``Periodic(grid="closed")`` runs the operator on the N − 1 distinct nodes and copies node 0 to the
endpoint; inputs whose ends differ are refused.

**Elimination modes** (pcml's FNO only; the article's algorithm, kept for reproduction).
Saad et al. 2023: every Fourier layer :math:`v \mapsto \sigma(Kv + Wv + b)` becomes

.. math::
    v \mapsto \sigma_{\text{int}}\big(\mathcal B[K z(v)] + \mathcal B[W v] + b\big),

* :math:`z(v)`: the Gaussian-elimination input correction of
  :mod:`pcml.models.boon_correction` (Dirichlet and Neumann sides of the elimination axis), so that
  the boundary outputs of :math:`Kz` do not depend on interior inputs. The 1×1 path W needs none:
  its boundary blocks B = C = 0 make the channel-wise correction the identity, and in
  ``"reference"`` mode it would change only the boundary nodes, which :math:`\mathcal B` overwrites.
* :math:`\mathcal B`: the boundary relation applied to each linear path separately — Dirichlet
  node := α, Neumann node := value solved from the stencil with flux α (each path carries the flux,
  so the sum carries 2α; ``neumann_half=True`` multiplies both linear paths by ½ as the article
  did, so the sum carries α; the separate bias is not halved), periodic ends := their mean (only
  with ``periodic="average"``, see below). Hidden
  Dirichlet nodes therefore hold 2α (as in the article, where the bias sat inside W and was
  overwritten). ``hidden_value_scale`` λ multiplies the hidden values only: the hidden layers
  enforce the relation with λ·α (Dirichlet node := 2λα; Neumann flux 2λg, or λg with
  ``neumann_half``), the output with α. With output normalisation (a wrapper that feeds α/s and
  returns s·u) λ = s keeps the hidden injection at 2α whatever s is, so that s is a pure
  reparametrisation of the output for BOON as for the FNO (λ = 1: the hidden layers see 2α/s,
  i.e. the injection grows by 1/s). The relations are affine, so this is computed as one relation on
  :math:`Kz + Wv + b` with doubled values (the bias is overwritten at Dirichlet nodes and changes
  neither a stencil derivative nor periodic equality) — identical up to round-off, one pass.
* :math:`\sigma_{\text{int}}`: GELU on interior nodes only — nodes on constrained sides keep their
  pre-activation value (explicit mask from the BC spec; the original 1-D code applied GELU
  everywhere by a type-check bug, §14.6); same after the first projection layer. As in the article,
  the activation of the interior neighbours breaks the hidden Neumann relation; only the output
  enforcement guarantees it.
* The output is enforced exactly (:func:`pcml.constraints.boundary.apply_boundary_conditions`):
  Dirichlet values bitwise, Neumann stencil relation to round-off on the grid of the call (so
  evaluation at another resolution stays exact), periodic ends bitwise equal.

Closed periodic axes in the elimination modes (``periodic="distinct"``, the default; "open" is its
old name) — a fix over the original, which averaged the two end nodes after every layer
(``periodic="average"`` keeps that for reproduction). Such periodic data live on a *closed* grid
of N nodes whose last node repeats the first (period (N − 1)h). An FFT over all N nodes assumes
period N·h, so the spectral convolution is not periodic with the data's period and the duplicated
node is a wrap-around kink; averaging the ends per layer cannot repair that (and the masked GELU
leaves the two end nodes unactivated among activated neighbours). Here the operator runs on the
N − 1 distinct nodes, where the FFT's period is the true one and every layer is periodic by
construction, and the output endpoint is a copy of node 0 (ends bitwise equal). An input whose
endpoint differs from node 0 is refused. With only periodic BCs this is exactly the FNO on the open
grid followed by the endpoint copy: no hidden correction is needed.

Elimination modes: ``"channelwise"`` block elimination over channels, exact for any width;
``"reference"`` the article's scalar probes (output channel 0, summed over input channels) with the
index and sign bugs fixed — for reproduction; ``"none"`` output/boundary treatment only (ablation).
In the article's 1-D Neumann layers only the right elimination step ran; here every Dirichlet or
Neumann side of the elimination axis is eliminated, in every dimension.

Shapes: ``a``: (B, in_channels, *grid), output (B, out_channels, *grid). ``bc_values``:
``{axis: (lower, upper)}``, each a float or a tensor (B, *s) with s broadcastable right-aligned to
the wall shape (the grid shape without that axis): (B,) constant per sample; (B, T) per time frame
(time = last grid axis); (B, *wall_shape) fully resolved; NaN/inf refused. Periodic sides take no
value. Values may also be passed as keyword arguments ``bc_<axis>=(lower, upper)``. Hidden
layers see the values zero-padded over padded (time) slots. ``grid``: optional
``{axis: coords (N,)}`` (default linspace(0, 1, N)); Neumann stencils are built from it at every
call. BCs may not sit on padded axes. With no BCs, ``BOON(fno)(a)`` is ``fno(a)`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pcml.constraints.boundary import (
    CORNER_RULE,
    BCValues,
    BoundaryConditions,
    Dirichlet,
    Neumann,
    Periodic,
    apply_boundary_conditions,
    axis_coords,
    check_closed_periodic,
    check_finite,
    default_axis_names,
    interior_mask,
    wall_values,
)
from pcml.models._foreign import tensors_only_state_dict
from pcml.models.boon_correction import Elimination, Mode, eliminate, prepare_elimination
from pcml.models.boon_extension import (
    check_fraction,
    extended,
    spectral_convs,
    trapezoid_weights,
)
from pcml.models.boon_lift import check_flux_order, check_width, lift_operator, smooth_lift
from pcml.models.fno import FNO, FourierLayer

__all__ = ["BOON"]


def _fit_values(
    bcs: BoundaryConditions,
    vals: Mapping[str, tuple[Tensor | None, Tensor | None]],
    names: Sequence[str],
    grid: Sequence[int],
    scale: float,
) -> dict[str, tuple[Tensor | None, Tensor | None]]:
    """Wall values (B, *wall) times ``scale``, fitted to a hidden ``grid``: cut along a closed
    periodic axis that runs on its distinct nodes, zero-padded over an operator's own padded
    (non-BC) slots."""
    out: dict[str, tuple[Tensor | None, Tensor | None]] = {}
    for i, name, _, _ in bcs.axes(names):
        wall = tuple(grid[:i]) + tuple(grid[i + 1 :])
        pair: list[Tensor | None] = []
        for v in vals[name]:
            if v is not None:
                v = scale * v if scale != 1.0 else v
                for k, m in enumerate(wall):
                    have = v.shape[1 + k]
                    if have > m:
                        v = v.narrow(1 + k, 0, m)
                    elif have < m:
                        pad = [0, 0] * (len(wall) - 1 - k) + [0, m - have]
                        v = F.pad(v, pad)
            pair.append(v)
        out[name] = (pair[0], pair[1])
    return out


def _operator_ndim(op: nn.Module) -> int | None:
    """Grid dimension of pcml's FNO (``ndim``), neuraloperator's FNO (``n_dim``) or any module with
    ``n_modes``; None when the module does not say (read from the first input)."""
    for attr in ("ndim", "n_dim"):
        v = getattr(op, attr, None)
        if isinstance(v, int):
            return v
    modes = getattr(op, "n_modes", None)
    return len(modes) if isinstance(modes, tuple | list) else None


# A boundary node's new value as data: Σ_j coefs[j]·u[nodes[j]] + offset (offset: (B, C, *wall)).
_EndSpec = tuple[tuple[int, ...], tuple[float, ...], Tensor | None]


class _GeluWithEnds(torch.autograd.Function):
    """gelu(u) (or u itself when ``activate`` is False) with the end slices along ``dim``
    replaced by affine combinations of pre-activation nodes, ``Σ_j c_j u[n_j] + offset`` (a side
    given as None keeps the activated value).

    One elementwise pass forward and backward; the stencil gradients are added directly into this
    function's own fresh gradient buffer, so no full-size zero tensors per stencil node are made
    (the cost that ``select``-based stencils have in autograd). No autograd tensor is written.
    """

    @staticmethod
    def forward(
        ctx: Any,
        u: Tensor,
        lo_off: Tensor | None,
        up_off: Tensor | None,
        dim: int,
        specs: tuple,
        activate: bool,
    ) -> Tensor:
        out = F.gelu(u) if activate else u.clone()
        n = u.shape[dim]
        ends: list[Tensor | None] = []
        for spec, off in zip(specs, (lo_off, up_off), strict=True):
            if spec is None:
                ends.append(None)
                continue
            val = torch.zeros_like(u.select(dim, 0)) if off is None else off.clone()
            for node, c in zip(spec[0], spec[1], strict=True):
                val = val + c * u.select(dim, node)
            ends.append(val)
        for node, end in ((0, ends[0]), (n - 1, ends[1])):
            if end is not None:
                out.select(dim, node).copy_(end)
        ctx.save_for_backward(u if activate else None)
        ctx.dim, ctx.specs, ctx.activate = dim, specs, activate
        ctx.has_off = (lo_off is not None, up_off is not None)
        return out

    @staticmethod
    def backward(
        ctx: Any, g: Tensor
    ) -> tuple[Tensor, Tensor | None, Tensor | None, None, None, None]:
        (u,) = ctx.saved_tensors
        dim, specs = ctx.dim, ctx.specs
        n = g.shape[dim]
        gu = torch.ops.aten.gelu_backward(g, u) if ctx.activate else g.clone()
        gb = [
            None if sp is None else g.select(dim, b)
            for sp, b in zip(specs, (0, n - 1), strict=True)
        ]
        for sp, b in zip(specs, (0, n - 1), strict=True):
            if sp is not None:
                gu.select(dim, b).zero_()
        for sp, gbi in zip(specs, gb, strict=True):
            if sp is not None and gbi is not None:
                for node, c in zip(sp[0], sp[1], strict=True):
                    gu.select(dim, node).add_(gbi, alpha=c)
        g_off = [
            gbi.clone() if has and gbi is not None else None
            for gbi, has in zip(gb, ctx.has_off, strict=True)
        ]
        return gu, g_off[0], g_off[1], None, None, None


def _gelu_with_ends(
    u: Tensor,
    lower: _EndSpec | None,
    upper: _EndSpec | None,
    dim: int,
    activate: bool = True,
) -> Tensor:
    """Masked GELU (identity if not ``activate``) for one constrained axis; boundary nodes take
    their (unactivated) relation."""
    shape = u.select(dim, 0).shape
    offs = [None if sp is None or sp[2] is None else sp[2].expand(shape) for sp in (lower, upper)]
    specs = tuple(None if sp is None else (sp[0], sp[1]) for sp in (lower, upper))
    return _GeluWithEnds.apply(u, offs[0], offs[1], dim, specs, activate)


# The fused relation of a single hidden BC axis: (tensor dim, lower spec, upper spec).
_FusedEnds = tuple[int, _EndSpec | None, _EndSpec | None]


def _end_spec(
    bc: object, side: int, n: int, value: Tensor | None, coords: Tensor | None
) -> _EndSpec | None:
    """The relation of one side as data (see :data:`_EndSpec`); value: (B, *wall) or None."""
    if isinstance(bc, Periodic):
        return ((0, n - 1), (0.5, 0.5), None)
    if isinstance(bc, Dirichlet):
        assert value is not None
        return ((), (), value.unsqueeze(1))
    if isinstance(bc, Neumann):
        assert value is not None and coords is not None
        w = bc.stencil.weights(coords, "lower" if side == 0 else "upper")
        wb = w.weights[w.boundary]
        nodes = tuple(m for j, m in enumerate(w.nodes) if j != w.boundary)
        coefs = tuple(-c / wb for j, c in enumerate(w.weights) if j != w.boundary)
        return (nodes, coefs, value.unsqueeze(1) / wb)
    return None


class BOON(nn.Module):
    """Any channels-first operator with exact boundary conditions (see module docstring).

    ``operator``: pcml's :class:`~pcml.models.fno.FNO`, ``neuralop.models.FNO`` or any module
    mapping (B, C_in, *grid) → (B, C_out, *grid) (``fno=`` is accepted as the old keyword).
    ``bcs``: :class:`BoundaryConditions` or a mapping ``{axis: (lower, upper)}``. ``mode``:
    "extension" (default, resolution-invariant, any operator), or — pcml FNO only — the article's
    elimination "channelwise" | "reference" | "none". Extension mode: ``padding_fraction`` f (the
    domain padding of bounded axes, default ¼), ``hidden_lift`` (boundary data enter every
    spectral layer as smooth functions, default True), ``hidden_value_scale`` λ (their
    values are λ·α) and ``lift_width`` δ (the hidden and output lift functions are supported
    within δ of their wall, a fraction of the axis in (0, 1]; None: the global polynomials) and
    ``flux_order`` q (the output lift reads a Neumann side's raw flux with the one-sided stencil
    of order q, default 6 — grid-consistent on the operator's top modes; the side's own stencil
    relation is still enforced exactly; None: read it with the side's own stencil).
    Elimination modes only: ``eps`` (Tikhonov parameter of the
    block solves), ``reference_tol`` (scalar clamp of the reference mode), ``neumann_half``,
    ``elimination_axis`` (default: the first axis with a Dirichlet/Neumann side),
    ``mask_activation`` (GELU on interior nodes only), ``periodic`` ("distinct": a closed periodic
    grid runs on its N − 1 distinct nodes, endpoint copied — "open" is the old name; "average":
    the article's per-layer end averaging); there ``hidden_value_scale`` λ ≥ 0 scales the hidden
    node values (module docstring). ``axis_names``: names of the grid axes (default ("x",),
    ("x", "t"), ("x", "y", "t") by the operator's dimension, read at the first call for a module
    that does not say).

    Attributes: ``enforcement`` — "spectral" (the operator's spectral convolutions were found and
    corrected inside, plus the output lift and exact enforcement), "elimination" (the article's
    kernel correction inside pcml's Fourier layers), "output" (exact output-level enforcement
    only: no spectral convolution visible, or ``mode="none"``), "none" (no BCs: the operator
    exactly); ``corner_rule`` (:data:`pcml.constraints.boundary.CORNER_RULE`).
    """

    corner_rule = CORNER_RULE

    def __init__(
        self,
        operator: nn.Module | None = None,
        bcs: BoundaryConditions | Mapping | None = None,
        mode: Literal["extension", "channelwise", "reference", "none"] = "extension",
        neumann_half: bool = False,
        eps: float = 1e-7,
        reference_tol: float = 1e-7,
        axis_names: Sequence[str] | None = None,
        elimination_axis: str | None = None,
        mask_activation: bool = True,
        periodic: Literal["distinct", "open", "average"] = "distinct",
        hidden_value_scale: float = 1.0,
        padding_fraction: float = 0.25,
        hidden_lift: bool = True,
        lift_width: float | None = 0.2,
        flux_order: int | None = 6,
        *,
        fno: nn.Module | None = None,
    ) -> None:
        super().__init__()
        tensors_only_state_dict(self)
        if operator is None:
            operator = fno
        elif fno is not None:
            raise ValueError("BOON: give the operator once (positionally or as fno=), not both")
        if not isinstance(operator, nn.Module):
            raise ValueError(f"BOON: operator must be an nn.Module, got {type(operator).__name__}")
        if mode not in ("extension", "channelwise", "reference", "none"):
            raise ValueError(
                "BOON: mode must be 'extension', 'channelwise', 'reference' or 'none', "
                f"got {mode!r}"
            )
        if periodic not in ("distinct", "open", "average"):
            raise ValueError(
                "BOON: periodic must be 'distinct' (old name 'open') or 'average', "
                f"got {periodic!r}"
            )
        for name, val in (
            ("eps", eps),
            ("reference_tol", reference_tol),
            ("hidden_value_scale", hidden_value_scale),
        ):
            check_finite(val, f"BOON: {name}")
        if eps < 0 or reference_tol <= 0:
            raise ValueError(
                f"BOON: need eps >= 0 and reference_tol > 0, got {eps}, {reference_tol}"
            )
        if hidden_value_scale < 0:
            raise ValueError(
                f"BOON: hidden_value_scale must be finite and >= 0, got {hidden_value_scale!r}"
            )
        self.padding_fraction = check_fraction(padding_fraction)
        self.hidden_lift = bool(hidden_lift)
        self.lift_width = check_width(lift_width)
        self.flux_order = check_flux_order(flux_order)
        self.hidden_value_scale = float(hidden_value_scale)
        self.fno: Any = (
            operator  # registered as "fno": state-dict keys stay "fno.*" for any operator
        )
        self.bcs = bcs if isinstance(bcs, BoundaryConditions) else BoundaryConditions(bcs or {})
        self.mode, self.neumann_half, self.eps, self.reference_tol = (
            mode,
            neumann_half,
            eps,
            reference_tol,
        )
        self.mask_activation = mask_activation
        self.periodic = "distinct" if periodic == "open" else periodic
        ndim = _operator_ndim(operator)
        self._names: tuple[str, ...] | None = tuple(axis_names) if axis_names else None
        if self._names is None and ndim is not None:
            self._names = default_axis_names(ndim)
        if self._names is not None and ndim is not None and len(self._names) != ndim:
            raise ValueError(f"BOON: axis_names {self._names} must name {ndim} grid axes")
        if self._names is not None:
            self.bcs.axes(self._names)  # validates the axis names
        self._convs = spectral_convs(operator) if mode == "extension" else []
        if not self.bcs:
            self.enforcement = "none"
        elif mode == "extension":
            self.enforcement = "spectral" if self._convs and self._bounded() else "output"
        elif mode == "none":
            self.enforcement = "output"
        else:
            self.enforcement = "elimination"
        if mode == "extension":
            self._check_operator_padding()
            return
        if not isinstance(operator, FNO):
            raise ValueError(
                f"BOON: mode={mode!r} (the article's elimination) needs pcml's FNO; got "
                f"{type(operator).__name__} — use mode='extension' for any operator"
            )
        self._init_elimination(operator, elimination_axis)

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the grid axes (known after construction, or after the first call for an
        operator that does not state its dimension)."""
        if self._names is None:
            raise ValueError("BOON: axis names are unknown until the first call (or axis_names=)")
        return self._names

    @property
    def operator(self) -> Any:
        """The wrapped operator (registered as the submodule ``fno``, the old name, so state dicts
        keep their keys)."""
        return self.fno

    def extra_repr(self) -> str:
        sides = {k: (repr(v[0]), repr(v[1])) for k, v in self.bcs.sides.items()}
        return f"mode={self.mode!r}, enforcement={self.enforcement!r}, bcs={sides}"

    def _bounded(self) -> bool:
        """Whether some BC axis is bounded (Dirichlet/Neumann/free sides, not periodic)."""
        return any(not isinstance(lo, Periodic) for lo, _ in self.bcs.sides.values())

    def _check_operator_padding(self) -> None:
        """Extension mode: refuse an operator that pads a bounded axis itself."""
        if self._bounded() and getattr(self.operator, "domain_padding", None) is not None:
            raise ValueError(
                "BOON: the neuraloperator FNO has domain_padding set; BOON's extension pads the "
                "bounded axes itself — build the FNO with domain_padding=None"
            )
        if isinstance(self.operator, FNO) and self._names is not None:
            for i, name, lo, _ in self.bcs.axes(self.names):
                if self.operator.padding[i] and not isinstance(lo, Periodic):
                    raise ValueError(
                        f"BOON: axis {name!r} carries BCs but is padded by "
                        f"{self.operator.padding[i]}"
                    )

    def _init_elimination(self, fno: FNO, elimination_axis: str | None) -> None:
        """The article's elimination modes (pcml FNO only)."""
        axes = self.bcs.axes(self.names)
        # closed periodic grids run on their distinct nodes; open ones need nothing
        self._open_dims = tuple(
            i
            for i, _, lo, _ in axes
            if self.periodic == "distinct" and isinstance(lo, Periodic) and lo.closed
        )
        for _, name, lo, _ in axes:
            if self.periodic == "average" and isinstance(lo, Periodic) and not lo.closed:
                raise ValueError(
                    f"BOON: periodic='average' averages the two ends of a closed grid; axis "
                    f"{name!r} is Periodic(grid='open')"
                )
        self._hidden_bcs = BoundaryConditions(
            {
                n: (lo, up)
                for i, n, lo, up in axes
                if i not in self._open_dims and not (isinstance(lo, Periodic) and not lo.closed)
            }
        )
        for i, name, _, _ in axes:
            if fno.padding[i]:
                raise ValueError(
                    f"BOON: axis {name!r} carries BCs but is padded by {fno.padding[i]}"
                )
        elim = [(i, n, lo, up) for i, n, lo, up in axes if any(self.bcs.needs_value(n))]
        self._elim: tuple[int, bool, bool] | None = None
        if elimination_axis is not None:
            elim = [e for e in elim if e[1] == elimination_axis]
            if not elim:
                raise ValueError(
                    f"BOON: elimination_axis {elimination_axis!r} has no Dirichlet/Neumann side"
                )
        if elim and self.mode != "none":
            i, name, lo, up = elim[0]
            if fno.ndim > 1 and i == fno.ndim - 1:
                raise ValueError(
                    f"BOON: cannot eliminate along the last grid axis {name!r} (rfft axis)"
                )
            self._elim = (
                i,
                isinstance(lo, Dirichlet | Neumann),
                isinstance(up, Dirichlet | Neumann),
            )
        self._has_neumann = any(isinstance(bc, Neumann) for _, _, lo, up in axes for bc in (lo, up))

    def _pad_values(self, vals: dict[str, tuple[Tensor | None, Tensor | None]]) -> dict:
        """Hidden-layer values: ×2λ (Dirichlet: K̂ and Ŵ each carry λα; Neumann: each carries the
        flux λg, unless ``neumann_half``: ×λ), λ = ``hidden_value_scale``, zero-padded over padded
        (time) slots."""
        out = {}
        for i, name, lo, up in self._hidden_bcs.axes(self.names):
            wall_pad = [p for k, p in enumerate(self.fno.padding) if k != i]
            spec: list[int] = []
            for p in reversed(wall_pad):
                spec += [0, p]
            pair = []
            for bc, v in zip((lo, up), vals[name], strict=True):
                if v is not None:
                    c = 1.0 if isinstance(bc, Neumann) and self.neumann_half else 2.0
                    c *= self.hidden_value_scale
                    v = v if c == 1.0 else c * v
                    v = F.pad(v, spec) if any(wall_pad) else v
                pair.append(v)
            out[name] = tuple(pair)
        return out

    def _layer(self, index: int) -> FourierLayer:
        layer = self.fno.layers[index]
        assert isinstance(layer, FourierLayer)
        return layer

    def prepare(self, grid: tuple[int, ...]) -> list[Elimination] | None:
        """Weight-only elimination data of all layers on the (padded) grid, batched; None when
        nothing is eliminated."""
        if self._elim is None:
            return None
        ax, _, up = self._elim
        spectrals = [self._layer(i).spectral for i in range(self.fno.n_layers)]
        mode: Mode = "reference" if self.mode == "reference" else "channelwise"
        lo = self._elim[1]
        return prepare_elimination(
            spectrals, grid, ax, up, mode, self.eps, self.reference_tol, lower=lo
        )

    def corrected_layer(self, index: int, v: Tensor, prepared: Elimination | None = None) -> Tensor:
        r"""Pre-activation :math:`\hat K v + W v + b` of layer ``index``, before the boundary
        relation (``neumann_half`` scaling included); v: (B, C, *padded grid)."""
        layer = self._layer(index)
        if self._elim is None:
            k = layer.kernel(v)
        else:
            ax, lo, up = self._elim
            spectral = layer.spectral
            mode: Mode = "reference" if self.mode == "reference" else "channelwise"
            k = eliminate(spectral, v, ax, lo, up, mode, self.eps, self.reference_tol, prepared)
        u = k + layer.skip(v)
        if self.neumann_half and self._has_neumann:
            u = 0.5 * u
        return u + layer.bias_field(v.ndim - 2).to(v.dtype)

    def relate(
        self,
        u: Tensor,
        values: Mapping[str, tuple[Tensor | None, Tensor | None]],
        coords: Mapping[str, Tensor],
        activate: bool,
    ) -> Tensor:
        """Boundary relation on u (B, C, *grid), then GELU on interior nodes if ``activate``.

        By linearity the relation on K̂v + Wv + b with doubled values equals the sum of the
        relations applied to the two paths separately (the bias is overwritten at Dirichlet
        nodes and leaves stencil derivatives and periodic equality unchanged).
        """
        return self._relate(u, values, coords, activate, self._fused_ends(u.shape, values, coords))

    def _fused_ends(
        self,
        shape: Sequence[int],
        values: Mapping[str, tuple[Tensor | None, Tensor | None]],
        coords: Mapping[str, Tensor],
    ) -> _FusedEnds | None:
        """The relation of the single hidden BC axis as data (None with several axes); built once
        per forward (the Neumann stencil weights come from the grid of the call)."""
        axes = self._hidden_bcs.axes(self.names)
        if len(axes) != 1:
            return None
        i, name, lo, up = axes[0]
        n = shape[2 + i]
        pair = values.get(name, (None, None))
        c = coords.get(name)
        return 2 + i, _end_spec(lo, 0, n, pair[0], c), _end_spec(up, 1, n, pair[1], c)

    def _relate(
        self,
        u: Tensor,
        values: Mapping[str, tuple[Tensor | None, Tensor | None]],
        coords: Mapping[str, Tensor],
        activate: bool,
        ends: _FusedEnds | None,
    ) -> Tensor:
        if ends is not None and (self.mask_activation or not activate):  # fused single pass
            return _gelu_with_ends(u, ends[1], ends[2], ends[0], activate)
        bcs = self._hidden_bcs
        u = apply_boundary_conditions(u, bcs, values, coords, self.names)
        if not activate:
            return u
        if not self.mask_activation:
            return F.gelu(u)
        return torch.where(interior_mask(bcs, self.names, u.shape[2:], u.device), F.gelu(u), u)

    def forward(
        self,
        a: Tensor | None = None,
        bc_values: BCValues | None = None,
        grid: Mapping[str, Tensor] | None = None,
        **kwargs: Any,
    ) -> Tensor:
        """Output (B, out_channels, *grid) for input ``a`` (B, in_channels, *grid).

        ``bc_values``: ``{axis: (lower, upper)}``, or keyword arguments ``bc_<axis>=(lower,
        upper)``. For neuraloperator's ``Trainer`` (``model(**sample)``) the input may come as
        ``x=`` and the target ``y=`` is ignored. ``grid``: ``{axis: coords (N,)}``.
        """
        a, bc_values = self._call_arguments(a, bc_values, kwargs)
        if self._names is None:
            self._names = default_axis_names(a.ndim - 2)
            self.bcs.axes(self._names)
        if len(self.names) != a.ndim - 2:
            raise ValueError(
                f"BOON: input has shape {tuple(a.shape)} but the axes are {self.names}"
            )
        if not self.bcs:
            if bc_values:
                raise ValueError("BOON: bc_values given but the model has no boundary conditions")
            return self.operator(a)
        check_finite(a, "BOON: input a")
        check_closed_periodic(a, self.bcs, self.names)
        shape = tuple(a.shape[2:])
        probe = a.new_empty((a.shape[0], 1, *shape))
        vals = wall_values(self.bcs, bc_values, self.names, probe)
        coords = {n: axis_coords(grid, n, shape[i]) for i, n, _, _ in self.bcs.axes(self.names)}
        if self.mode == "extension":
            return self._extension_forward(a, vals, coords)
        for d in self._open_dims:
            a = a.narrow(2 + d, 0, shape[d] - 1)
        if self._hidden_bcs:
            out = self._hidden_forward(a, self._open_values(vals), coords)
        else:  # only periodic axes: the FFT is periodic by construction
            out = self.fno(a)
        for d in self._open_dims:  # endpoint := node 0, bitwise
            out = torch.cat([out, out.narrow(2 + d, 0, 1)], dim=2 + d)
        return apply_boundary_conditions(out, self.bcs, vals, coords, self.names)

    def _call_arguments(
        self, a: Tensor | None, bc_values: BCValues | None, kwargs: dict[str, Any]
    ) -> tuple[Tensor, BCValues | None]:
        """Input and BC values from positional/keyword arguments (see :meth:`forward`)."""
        x = kwargs.pop("x", None)
        kwargs.pop("y", None)  # the target of a neuraloperator sample
        if (a is None) == (x is None):
            raise ValueError("BOON: pass the input once, as the first argument or as x=")
        inp = a if a is not None else x
        if not isinstance(inp, Tensor):
            raise ValueError(f"BOON: the input must be a tensor, got {type(inp).__name__}")
        unknown = sorted(k for k in kwargs if not k.startswith("bc_"))
        if unknown:
            raise ValueError(
                f"BOON: unexpected keyword arguments {unknown}; boundary values are passed as "
                "bc_values={axis: (lower, upper)} or bc_<axis>=(lower, upper)"
            )
        extra = {k[3:]: v for k, v in kwargs.items()}
        for k, v in extra.items():
            if not isinstance(v, tuple | list) or len(v) != 2:
                raise ValueError(
                    f"BOON: bc_{k} must be a (lower, upper) pair, got {type(v).__name__}"
                )
        if extra:
            both = set(extra) & set(bc_values or {})
            if both:
                raise ValueError(f"BOON: values for axes {sorted(both)} given twice")
            bc_values = {**dict(bc_values or {}), **{k: tuple(v) for k, v in extra.items()}}
        return inp, bc_values

    def _extension_forward(
        self,
        a: Tensor,
        vals: Mapping[str, tuple[Tensor | None, Tensor | None]],
        coords: Mapping[str, Tensor],
    ) -> Tensor:
        """Extended spectral layers, smooth output lift, exact enforcement (module docstring)."""
        axes = self.bcs.axes(self.names)
        closed = [i for i, _, lo, _ in axes if isinstance(lo, Periodic) and lo.closed]
        bounded = [(2 + i, n) for i, n, lo, _ in axes if not isinstance(lo, Periodic)]
        weights = [trapezoid_weights(coords[n]) for _, n in bounded]
        for d in closed:
            a = a.narrow(2 + d, 0, a.shape[2 + d] - 1)
        dims = [d for d, _ in bounded]
        lift = None
        axis_ops = None
        if self.hidden_lift and bounded:
            hidden = BoundaryConditions(
                {n: (lo, up) for _, n, lo, up in axes if not isinstance(lo, Periodic)}
            )
            lam = self.hidden_value_scale

            def lift(v: Tensor) -> Tensor:
                hv = _fit_values(hidden, vals, self.names, v.shape[2:], lam)
                return smooth_lift(
                    v,
                    hidden,
                    hv,
                    coords,
                    self.names,
                    data_only=(Neumann, Dirichlet),
                    width=self.lift_width,
                )

            axis_ops = {
                2 + i: lift_operator(
                    lo, up, coords[n].cpu(), (Neumann, Dirichlet), self.lift_width
                )[:3]
                for i, n, lo, up in axes
                if not isinstance(lo, Periodic)
            }
        with extended(
            self._convs,
            dims,
            self.padding_fraction,
            weights,
            lift,
            axis_ops,
        ):
            out = self.operator(a)
        if not isinstance(out, Tensor) or out.shape[2:] != a.shape[2:]:
            raise ValueError(
                "BOON: the operator must return a (B, C_out, *grid) tensor on the input's grid, "
                f"got {getattr(out, 'shape', type(out))}"
            )
        for d in closed:  # endpoint := node 0, bitwise
            out = torch.cat([out, out.narrow(2 + d, 0, 1)], dim=2 + d)
        out = smooth_lift(
            out,
            self.bcs,
            vals,
            coords,
            self.names,
            width=self.lift_width,
            flux_order=self.flux_order,
        )
        return apply_boundary_conditions(out, self.bcs, vals, coords, self.names)

    def _open_values(
        self, vals: Mapping[str, tuple[Tensor | None, Tensor | None]]
    ) -> dict[str, tuple[Tensor | None, Tensor | None]]:
        """Wall values (B, *wall) of the hidden BC axes, cut to the open periodic grid."""
        out: dict[str, tuple[Tensor | None, Tensor | None]] = {}
        for i, name, _, _ in self._hidden_bcs.axes(self.names):
            pair = []
            for v in vals[name]:
                for d in self._open_dims:
                    if v is not None:
                        w = 1 + (d if d < i else d - 1)
                        v = v.narrow(w, 0, v.shape[w] - 1) if v.shape[w] > 1 else v
                pair.append(v)
            out[name] = (pair[0], pair[1])
        return out

    def _hidden_forward(
        self,
        a: Tensor,
        vals: Mapping[str, tuple[Tensor | None, Tensor | None]],
        coords: Mapping[str, Tensor],
    ) -> Tensor:
        """Corrected layers, projection and interior activation on the grid of ``a``."""
        shape = tuple(a.shape[2:])
        hidden_vals = self._pad_values(dict(vals))
        v = self.fno.pad(self.fno.lift(a))
        elims = self.prepare(tuple(v.shape[2:]))
        ends = self._fused_ends(v.shape, hidden_vals, coords)
        for index in range(self.fno.n_layers):
            act = self._layer(index).activation
            u = self.corrected_layer(index, v, None if elims is None else elims[index])
            v = self._relate(u, hidden_vals, coords, act, ends)
        v = self.fno.crop(v, shape)
        h = self.fno.project_hidden(v)
        h = self._activate_interior(h)
        return self.fno.project_out(h)

    def _activate_interior(self, h: Tensor) -> Tensor:
        if not self.mask_activation:
            return F.gelu(h)
        bcs = self._hidden_bcs
        axes = bcs.axes(self.names)
        if len(axes) == 1:
            i, _, lo, up = axes[0]
            dim, n = 2 + i, h.shape[2 + i]
            keep_lo: _EndSpec | None = None if lo is None else ((0,), (1.0,), None)
            keep_up: _EndSpec | None = None if up is None else ((n - 1,), (1.0,), None)
            return _gelu_with_ends(h, keep_lo, keep_up, dim)
        return torch.where(interior_mask(bcs, self.names, h.shape[2:], h.device), F.gelu(h), h)
