r"""Boundary conditions as data, and their exact enforcement on a gridded field.

Per grid axis a pair ``(lower, upper)`` of

* ``Dirichlet()``:  :math:`u(x_b) = \alpha_D` — the boundary node is set to the value;
* ``Neumann(order)``:  :math:`\partial u/\partial x_a (x_b) = \alpha_N` — the boundary node is
  solved from the one-sided stencil of that accuracy order on the grid of the call
  (:class:`pcml.constraints.stencils.OneSidedStencil`). The derivative is along :math:`+x_a` at
  both ends (not the outward normal), as in the BOON article (:math:`u_x(1) = U \sin \pi t`);
* ``Periodic(grid)`` (both sides, same grid): ``grid="open"`` (default, the ecosystem's convention:
  x_i = i/N, N distinct nodes, the period closes after the last node) needs no enforcement — the
  field is periodic by construction of the operator; ``grid="closed"`` (the last node repeats the
  first): both end nodes are set to :math:`\tfrac12(u_0 + u_{N-1})` (bitwise equal), and a
  closed-grid *input* whose ends differ is refused by :func:`check_closed_periodic`;
* ``None``: no condition on that side.

Fields are channels-first ``(batch, channels, *grid)``. Values are passed at call time as a mapping
``{axis: (lower_value, upper_value)}``; each value is a float or a tensor of shape ``(B, *s)`` where
``s`` broadcasts (right-aligned) against the wall shape, i.e. the grid shape without that axis:
``(B,)`` is constant over the wall, ``(B, T)`` gives one value per time frame when time is the last
grid axis, ``(B, *wall_shape)`` is fully resolved. Values are broadcast over channels.

**Corner rule** (:data:`CORNER_RULE`): sides are enforced by kind in the order Neumann, periodic,
Dirichlet (each pass over the axes in grid order), so at an edge or corner shared by two sides the
**Dirichlet value wins** (bitwise), a periodic pair beats a Neumann side, and between two sides of
the same kind the later axis wins. Consequences, tested on every corner kind: Dirichlet values hold
bitwise on every node of their face; a Neumann relation holds on every node of its face except the
nodes that also lie on a Dirichlet, periodic or later Neumann face; closed-periodic ends are equal
except where a Dirichlet face crosses them with unequal data. Tensors are rebuilt with
``torch.cat`` (no in-place writes on autograd tensors).

Every coordinate and value is checked finite (NaN/inf are refused with an error naming the
argument).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import ClassVar, Literal

import torch
from torch import Tensor

from pcml.constraints.stencils import OneSidedStencil, uniform_coords

__all__ = [
    "CORNER_RULE",
    "BoundaryConditions",
    "Dirichlet",
    "Neumann",
    "Periodic",
    "apply_boundary_conditions",
    "axis_ends",
    "check_closed_periodic",
    "check_finite",
    "default_axis_names",
    "interior_mask",
]

BCValue = float | Tensor | None
BCValues = Mapping[str, tuple[BCValue, BCValue]]


@dataclass(frozen=True)
class Dirichlet:
    """u = α at the boundary node."""

    kind: ClassVar[str] = "dirichlet"


@dataclass(frozen=True)
class Neumann:
    """∂u/∂x_a = α at the boundary node, via the one-sided stencil of accuracy ``order``."""

    order: int = 1
    kind: ClassVar[str] = "neumann"

    def __post_init__(self) -> None:
        OneSidedStencil(self.order)  # validates

    @property
    def stencil(self) -> OneSidedStencil:
        return OneSidedStencil(self.order)


@dataclass(frozen=True)
class Periodic:
    """Periodic axis (both sides must be Periodic with the same ``grid``).

    ``grid="open"`` (default): x_i = i/N, i = 0 … N−1 (neuraloperator, PDEBench, The Well); nothing
    to enforce, no node dropped. ``grid="closed"``: x_i = i/(N−1), the last node repeats the first
    (u_0 = u_{N−1}); inputs whose ends differ are refused.
    """

    grid: str = "open"
    kind: ClassVar[str] = "periodic"

    def __post_init__(self) -> None:
        if self.grid not in ("open", "closed"):
            raise ValueError(f"Periodic: grid must be 'open' or 'closed', got {self.grid!r}")

    @property
    def closed(self) -> bool:
        return self.grid == "closed"


BC = Dirichlet | Neumann | Periodic

#: The documented corner rule (module docstring): the enforcement order of the side kinds.
CORNER_RULE = (
    "Dirichlet wins at every edge/corner it touches (bitwise); periodic beats Neumann; between two "
    "sides of the same kind the later axis wins. A Neumann relation holds on every other node of "
    "its face."
)
_KIND_ORDER: tuple[type, ...] = (Neumann, Periodic, Dirichlet)
_SIDES = ("lower", "upper")


def check_finite(value: object, what: str) -> None:
    """Refuse NaN/inf in a float or tensor with a ValueError naming ``what``."""
    if isinstance(value, Tensor):
        if value.is_floating_point() or value.is_complex():
            if not bool(torch.isfinite(value).all()):
                raise ValueError(f"{what} holds NaN or inf values; expected finite numbers")
        return
    try:
        ok = math.isfinite(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise ValueError(f"{what} must be a finite number, got {value!r}") from err
    if not ok:
        raise ValueError(f"{what} must be a finite number, got {value!r}")


def default_axis_names(ndim: int) -> tuple[str, ...]:
    """Grid axis names by dimension: ("x",), ("x", "t"), ("x", "y", "t")."""
    names = {1: ("x",), 2: ("x", "t"), 3: ("x", "y", "t")}
    if ndim not in names:
        raise ValueError(f"default_axis_names: ndim must be 1, 2 or 3, got {ndim}")
    return names[ndim]


@dataclass(frozen=True)
class BoundaryConditions:
    """Per-axis ``(lower, upper)`` BCs, e.g. ``{"x": (Dirichlet(), Neumann(3))}``."""

    sides: Mapping[str, tuple[BC | None, BC | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checked: dict[str, tuple[BC | None, BC | None]] = {}
        for axis, pair in dict(self.sides).items():
            if not isinstance(pair, tuple) or len(pair) != 2:
                raise ValueError(
                    f"BoundaryConditions: sides[{axis!r}] must be a (lower, upper) tuple, "
                    f"got {pair!r}"
                )
            for bc in pair:
                if bc is not None and not isinstance(bc, Dirichlet | Neumann | Periodic):
                    raise ValueError(
                        f"BoundaryConditions: sides[{axis!r}] holds {bc!r}; expected Dirichlet(), "
                        "Neumann(order), Periodic() or None"
                    )
            if isinstance(pair[0], Periodic) != isinstance(pair[1], Periodic):
                raise ValueError(
                    f"BoundaryConditions: sides[{axis!r}] = {pair!r}; Periodic must be given on "
                    "both sides of an axis"
                )
            if isinstance(pair[0], Periodic) and pair[0] != pair[1]:
                raise ValueError(
                    f"BoundaryConditions: sides[{axis!r}] = {pair!r}; both Periodic sides must "
                    "use the same grid ('open' or 'closed')"
                )
            if pair != (None, None):
                checked[axis] = pair
        object.__setattr__(self, "sides", MappingProxyType(checked))

    def __bool__(self) -> bool:
        return bool(self.sides)

    def axes(self, names: Sequence[str]) -> list[tuple[int, str, BC | None, BC | None]]:
        """(grid index, name, lower, upper) for each constrained axis, in grid order."""
        unknown = set(self.sides) - set(names)
        if unknown:
            raise ValueError(
                f"BoundaryConditions: axes {sorted(unknown)} are not grid axes {tuple(names)}"
            )
        return [(i, n, *self.sides[n]) for i, n in enumerate(names) if n in self.sides]

    def needs_value(self, axis: str) -> tuple[bool, bool]:
        lo, up = self.sides[axis]
        return (isinstance(lo, Dirichlet | Neumann), isinstance(up, Dirichlet | Neumann))


def _wall_value(
    value: BCValue, batch: int, wall_shape: Sequence[int], where: str, like: Tensor
) -> Tensor:
    """Normalise a BC value to a tensor of shape (B, *wall_shape) (dtype/device of ``like``)."""
    if value is None:
        raise ValueError(f"bc_values{where} is required (Dirichlet/Neumann side) but missing")
    v = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    check_finite(v, f"bc_values{where}")
    if v.ndim == 0:
        v = v.expand(batch)
    if v.shape[0] not in (1, batch):
        raise ValueError(
            f"bc_values{where} has shape {tuple(v.shape)}; its leading dim must be the batch "
            f"size {batch} (or 1)"
        )
    trail = tuple(v.shape[1:])
    if len(trail) > len(wall_shape):
        raise ValueError(
            f"bc_values{where} has shape {tuple(v.shape)}; expected (B, *s) with s broadcastable "
            f"to the wall shape {tuple(wall_shape)}"
        )
    v = v.reshape(v.shape[0], *([1] * (len(wall_shape) - len(trail))), *trail)
    try:
        return v.expand(batch, *wall_shape)
    except RuntimeError as err:
        raise ValueError(
            f"bc_values{where} has shape {tuple(v.shape)}; expected (B, *s) with s broadcastable "
            f"to the wall shape {tuple(wall_shape)}"
        ) from err


def wall_values(
    bcs: BoundaryConditions,
    values: BCValues | None,
    names: Sequence[str],
    u: Tensor,
) -> dict[str, tuple[Tensor | None, Tensor | None]]:
    """All required values as validated (B, *wall_shape) tensors for a field ``u`` (B, C, *grid)."""
    values = {} if values is None else values
    unknown = set(values) - set(bcs.sides)
    if unknown:
        raise ValueError(f"bc_values: axes {sorted(unknown)} have no boundary condition")
    out: dict[str, tuple[Tensor | None, Tensor | None]] = {}
    grid = tuple(u.shape[2:])
    for i, name, _, _ in bcs.axes(names):
        need = bcs.needs_value(name)
        pair = values.get(name, (None, None))
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"bc_values[{name!r}] must be a (lower, upper) tuple, got {pair!r}")
        wall = grid[:i] + grid[i + 1 :]
        res: list[Tensor | None] = []
        for s, side in enumerate(("lower", "upper")):
            where = f"[{name!r}][{s}] ({side})"
            res.append(_wall_value(pair[s], u.shape[0], wall, where, u) if need[s] else None)
        out[name] = (res[0], res[1])
    return out


def axis_coords(
    grid: Mapping[str, Tensor] | None, name: str, n: int, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Coordinates (n,) of axis ``name``: ``grid[name]`` if given (finite, strictly increasing),
    else linspace(0, 1, n)."""
    if grid is None or name not in grid:
        return uniform_coords(n, dtype)
    c = torch.as_tensor(grid[name], dtype=dtype).reshape(-1)
    if c.numel() != n:
        raise ValueError(f"grid[{name!r}] has {c.numel()} coordinates; the field has {n} nodes")
    check_finite(c, f"grid[{name!r}]")
    if n > 1 and not bool((c[1:] > c[:-1]).all()):
        raise ValueError(f"grid[{name!r}] must be strictly increasing, got {c.tolist()[:8]} …")
    return c


def check_closed_periodic(
    a: Tensor, bcs: BoundaryConditions, names: Sequence[str], rtol: float = 1e-5
) -> None:
    """Refuse a field ``a`` (B, C, *grid) whose ends differ along a closed periodic axis:
    max |a_0 − a_{N−1}| must be ≤ rtol·max(max|a|, 1) (the last node repeats the first)."""
    for i, name, lo, _ in bcs.axes(names):
        if isinstance(lo, Periodic) and lo.closed:
            d = a.shape[2 + i]
            if d < 3:
                raise ValueError(
                    f"closed periodic axis {name!r} needs >= 3 nodes (the last repeats the "
                    f"first), got {d}"
                )
            gap = (a.select(2 + i, 0) - a.select(2 + i, d - 1)).abs().max()
            scale = torch.clamp(a.abs().max(), min=1.0)
            if not bool(gap <= rtol * scale):
                raise ValueError(
                    f"input on the closed periodic axis {name!r}: the last node must repeat the "
                    f"first (Periodic(grid='closed')), but they differ by up to {float(gap):.3g}; "
                    "pass Periodic(grid='open') for grids x_i = i/N"
                )


def _set_ends(u: Tensor, dim: int, lower: Tensor | None, upper: Tensor | None) -> Tensor:
    """u with its first/last slice along ``dim`` replaced (functionally, via torch.cat)."""
    n = u.shape[dim]
    parts = [
        u.narrow(dim, 0, 1)
        if lower is None
        else lower.unsqueeze(dim).expand_as(u.narrow(dim, 0, 1)),
        u.narrow(dim, 1, n - 2),
        u.narrow(dim, n - 1, 1)
        if upper is None
        else upper.unsqueeze(dim).expand_as(u.narrow(dim, n - 1, 1)),
    ]
    return torch.cat(parts, dim=dim)


def axis_ends(
    u: Tensor,
    dim: int,
    lo: BC | None,
    up: BC | None,
    values: tuple[Tensor | None, Tensor | None],
    coords: Tensor | None,
) -> tuple[Tensor | None, Tensor | None]:
    """New (lower, upper) boundary slices of ``u`` along ``dim`` (None: side unconstrained).

    Dirichlet: the value; Neumann: the stencil solution from the current interior nodes (the
    stencil never reaches the opposite boundary node); periodic: the mean of both ends. Values are
    (B, *wall_shape), broadcast over the channel dim 1.
    """
    n = u.shape[dim]
    if n < 3:
        raise ValueError(f"boundary conditions: axis at dim {dim} has {n} < 3 nodes")
    if isinstance(lo, Periodic):
        if not lo.closed:  # open grid: periodic by construction, nothing to enforce
            return None, None
        mean = 0.5 * (u.select(dim, 0) + u.select(dim, n - 1))
        return mean, mean
    ends: list[Tensor | None] = [None, None]
    for s, bc in enumerate((lo, up)):
        if not isinstance(bc, (Dirichlet, Neumann)):
            continue
        side: Literal["lower", "upper"] = "lower" if s == 0 else "upper"
        v = values[s]
        if v is None:
            raise ValueError(
                f"values[{s}] ({side}) is None: a {type(bc).__name__} side needs its wall value"
            )
        v = v.unsqueeze(1).to(u.dtype)
        if isinstance(bc, Dirichlet):
            ends[s] = v.expand_as(u.select(dim, 0))
        else:
            if coords is None:
                raise ValueError(
                    f"coords is None: a Neumann side ({side}) needs the axis coordinates"
                )
            ends[s] = bc.stencil.weights(coords, side).solve_boundary(u, v, dim)
    return ends[0], ends[1]


def apply_boundary_conditions(
    u: Tensor,
    bcs: BoundaryConditions,
    values: Mapping[str, tuple[Tensor | None, Tensor | None]],
    coords: Mapping[str, Tensor],
    names: Sequence[str],
) -> Tensor:
    r"""Impose the BCs on ``u`` (B, C, *grid) exactly: Dirichlet nodes := α (bitwise), Neumann nodes
    solved from the stencil on ``coords[axis]`` (N,), periodic ends := their mean.

    ``values``: ``{axis: (lower, upper)}`` of (B, *wall_shape) tensors (see :func:`wall_values`;
    None for periodic/free sides), broadcast over channels. Sides are enforced by kind — Neumann,
    then periodic, then Dirichlet — each pass in grid order (:data:`CORNER_RULE`).
    """
    axes = bcs.axes(names)
    for _, name, lo, up in axes:
        for s, bc in enumerate((lo, up)):
            if not isinstance(bc, (Dirichlet, Neumann)):
                continue
            pair = values.get(name)
            if pair is None or pair[s] is None:
                raise ValueError(
                    f"values[{name!r}][{s}] ({_SIDES[s]}) is missing: a {type(bc).__name__} side "
                    "needs its wall value (see wall_values)"
                )
            if isinstance(bc, Neumann) and name not in coords:
                raise ValueError(
                    f"coords[{name!r}] is missing: a Neumann side needs the axis coordinates "
                    "(see axis_coords)"
                )
    for kind in _KIND_ORDER:
        for i, name, lo, up in axes:
            sel = (lo if isinstance(lo, kind) else None, up if isinstance(up, kind) else None)
            if sel == (None, None):
                continue
            pair = values.get(name, (None, None))
            lower, upper = axis_ends(u, 2 + i, sel[0], sel[1], pair, coords.get(name))
            if lower is not None or upper is not None:
                u = _set_ends(u, 2 + i, lower, upper)
    return u


def interior_mask(
    bcs: BoundaryConditions,
    names: Sequence[str],
    grid_shape: Sequence[int],
    device: torch.device | None = None,
    kinds: tuple[type, ...] = (Dirichlet, Neumann, Periodic),
) -> Tensor:
    """Boolean (*grid) mask, False on the boundary nodes of every side whose BC is in ``kinds``."""
    mask = torch.ones(tuple(grid_shape), dtype=torch.bool, device=device)
    for i, _, lo, up in bcs.axes(names):
        if isinstance(lo, Periodic) and not lo.closed:
            continue  # open periodic grid: no boundary node
        idx = torch.arange(grid_shape[i], device=device)
        keep = torch.ones_like(idx, dtype=torch.bool)
        if isinstance(lo, kinds):
            keep = keep & (idx != 0)
        if isinstance(up, kinds):
            keep = keep & (idx != grid_shape[i] - 1)
        shape = [1] * len(grid_shape)
        shape[i] = grid_shape[i]
        mask = mask & keep.reshape(shape)
    return mask
