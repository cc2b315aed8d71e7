"""In-memory dataset containers and their structural schema.

A dataset is a set of trajectories u_i(t_k, x) of one PDE problem, i = 0..n_traj-1,
k = 0..n_steps-1, sampled on a cartesian grid x = (x, [y, [z]]):

* ``fields[name]``: ``(n_traj, n_steps, *grid_shape)`` scalar fields (channels-last on disk, as in
  The Well; a scalar field has no channel axis);
* ``time``: ``(n_steps,)`` or ``(n_traj, n_steps)``; ``coords[axis]``: ``(n_axis,)``;
* ``params[name]``: ``(n_traj,)`` per-trajectory parameters; ``constants``: fixed parameters;
* ``boundary``: one :class:`BoundaryData` per face, values ``(n_traj|1, n_steps|1, *face_shape)``
  where ``face_shape`` is ``grid_shape`` without the face's axis;
* ``conserved``: b(t) = ∫ u(t, x) dx as ``mass_rhs: (n_traj, n_steps)`` (ProbConserv's G u = b);
* ``points``: context/target point sets for attentive neural processes.

Every container validates itself on construction and raises ``ValueError`` naming the offending
argument, its shape and what was expected. Arrays keep the dtype they are given (no silent casts).
Unlike the original ProbConserv data (pickled ``Stefan`` objects, seeds not stored) everything here
is plain arrays, strings and numbers, so it can be stored without pickling.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from ._validate import as_numeric, check_text, validate_pdedata

AXES = ("x", "y", "z")
SIDES = ("lower", "upper")
BC_KINDS = ("dirichlet", "neumann", "periodic")
#: pcml's bc_kind -> The Well's bc_type vocabulary.
WELL_BC_TYPE: Mapping[str, str] = MappingProxyType(
    {"dirichlet": "WALL", "neumann": "WALL", "periodic": "PERIODIC"}
)
DERIVATIONS = ("closed_form", "flux_integral")
#: Root attributes written by the store; constants may not use these names.
RESERVED_ATTRS = frozenset(
    {
        "pcml_format_version",
        "pcml_version",
        "generator",
        "generator_version",
        "seed",
        "dataset_name",
        "grid_type",
        "n_spatial_dims",
        "n_trajectories",
        "simulation_parameters",
        "constant_names",
    }
)


@dataclass(frozen=True)
class DatasetSchema:
    """Structure of a dataset: names, sizes and kinds, no values (hashable, comparable).

    ``bc`` holds ``(axis, side, kind)`` triples in canonical order (axes as in ``spatial_dims``,
    lower before upper); ``points_shape`` is ``(n_ctx, n_tgt, d)`` or ``None``.
    """

    name: str
    spatial_dims: tuple[str, ...]
    grid_shape: tuple[int, ...]
    field_names: tuple[str, ...]
    field_dtypes: tuple[str, ...]
    n_traj: int
    n_steps: int
    param_names: tuple[str, ...] = ()
    constant_names: tuple[str, ...] = ()
    bc: tuple[tuple[str, str, str], ...] = ()
    has_conserved: bool = False
    has_points: bool = False
    points_shape: tuple[int, int, int] | None = None

    @property
    def n_spatial_dims(self) -> int:
        return len(self.spatial_dims)

    def mismatches(self, other: DatasetSchema, ignore: tuple[str, ...] = ()) -> list[str]:
        """Differences ``"field: expected <self>, got <other>"`` (call as
        ``expected.mismatches(actual)``), skipping the schema fields named in ``ignore``."""
        names = [f.name for f in fields(self)]
        unknown = sorted(set(ignore) - set(names))
        if unknown:
            raise ValueError(f"ignore: unknown schema fields {unknown}; expected some of {names}")
        return [
            f"{n}: expected {getattr(self, n)!r}, got {getattr(other, n)!r}"
            for n in names
            if n not in ignore and getattr(self, n) != getattr(other, n)
        ]


@dataclass(frozen=True, eq=False)
class BoundaryData:
    """Prescribed data on one face ``axis = lower|upper`` of the grid.

    Dirichlet: u = g on the face; Neumann: ∂u/∂n = g (``stencil_order`` is the order of the
    one-sided finite-difference stencil the data/model uses); periodic: u(lower) = u(upper), no
    values. ``values``: ``(n_traj|1, n_steps|1, *face_shape)``; a size-1 axis broadcasts.
    """

    axis: str
    side: str
    kind: str
    values: np.ndarray | None
    stencil_order: int | None = None

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise ValueError(f"BoundaryData.axis: got {self.axis!r}, expected one of {AXES}")
        if self.side not in SIDES:
            raise ValueError(f"BoundaryData.side: got {self.side!r}, expected one of {SIDES}")
        if self.kind not in BC_KINDS:
            raise ValueError(f"BoundaryData.kind: got {self.kind!r}, expected one of {BC_KINDS}")
        if self.kind == "periodic":
            if self.values is not None:
                raise ValueError(f"BoundaryData.values: must be None for periodic {self.face}")
        else:
            if self.values is None:
                raise ValueError(f"BoundaryData.values: required for {self.kind} {self.face}")
            values = as_numeric(self.values, f"BoundaryData.values ({self.face})")
            if values.ndim < 2:
                raise ValueError(
                    f"BoundaryData.values ({self.face}): got shape {values.shape}, expected "
                    "(n_traj|1, n_steps|1, *face_shape)"
                )
            object.__setattr__(self, "values", values)
        if self.stencil_order is not None:
            order = self.stencil_order
            if self.kind != "neumann" or isinstance(order, bool) or not isinstance(order, int):
                raise ValueError(
                    f"BoundaryData.stencil_order: got {order!r} for a {self.kind} face; "
                    "expected None, or a positive int for neumann faces"
                )
            if order < 1:
                raise ValueError(f"BoundaryData.stencil_order: got {order}, expected >= 1")

    @property
    def face(self) -> str:
        """Group name on disk, e.g. ``"x_lower"``."""
        return f"{self.axis}_{self.side}"


@dataclass(frozen=True, eq=False)
class ConservedData:
    """Right-hand side of the conservation constraint G u(t) = b(t), b(t) = ∫_Ω u(t, x) dx.

    ``mass_rhs``: ``(n_traj, n_steps)``; ``domain``: ``(x0, x1[, y0, y1[, z0, z1]])``;
    ``derivation``: ``"closed_form"`` or ``"flux_integral"``; ``rule``: the quadrature rule name
    that turns G into weights (see :mod:`pcml.constraints.quadrature`).
    """

    mass_rhs: np.ndarray
    quantity: str = "mass"
    domain: tuple[float, ...] = (0.0, 1.0)
    derivation: str = "closed_form"
    rule: str = "trapezoid"

    def __post_init__(self) -> None:
        rhs = as_numeric(self.mass_rhs, "ConservedData.mass_rhs")
        if rhs.ndim != 2:
            raise ValueError(
                f"ConservedData.mass_rhs: got shape {rhs.shape}, expected (n_traj, n_steps)"
            )
        object.__setattr__(self, "mass_rhs", rhs)
        check_text(self.quantity, "ConservedData.quantity", nonempty=True)
        check_text(self.rule, "ConservedData.rule", nonempty=True)
        if self.derivation not in DERIVATIONS:
            raise ValueError(
                f"ConservedData.derivation: got {self.derivation!r}, expected one of {DERIVATIONS}"
            )
        try:
            domain = tuple(float(v) for v in self.domain)
        except (TypeError, ValueError) as err:
            raise ValueError(f"ConservedData.domain: got {self.domain!r}, expected floats") from err
        bad = len(domain) < 2 or len(domain) % 2 or not all(map(math.isfinite, domain))
        if bad or any(domain[i] >= domain[i + 1] for i in range(0, len(domain), 2)):
            raise ValueError(
                f"ConservedData.domain: got {self.domain!r}, expected finite "
                "(x0, x1[, y0, y1, ...]) with x0 < x1"
            )
        object.__setattr__(self, "domain", domain)


@dataclass(frozen=True, eq=False)
class PointData:
    """Context/target point sets of an ANP task (one set per trajectory).

    ``context_inputs: (n_traj, n_ctx, d)``, ``context_values: (n_traj, n_ctx, 1)``,
    ``target_inputs: (n_traj, n_tgt, d)``, ``target_values: (n_traj, n_tgt, 1)``.
    """

    context_inputs: np.ndarray
    context_values: np.ndarray
    target_inputs: np.ndarray
    target_values: np.ndarray

    def __post_init__(self) -> None:
        arrays = {n: as_numeric(getattr(self, n), f"PointData.{n}") for n in _POINT_NAMES}
        for name, arr in arrays.items():
            object.__setattr__(self, name, arr)
            if arr.ndim != 3:
                raise ValueError(f"PointData.{name}: got shape {arr.shape}, expected 3 axes")
        n_traj, n_ctx, d = arrays["context_inputs"].shape
        n_tgt = arrays["target_inputs"].shape[1]
        expected = {
            "context_inputs": (n_traj, n_ctx, d),
            "context_values": (n_traj, n_ctx, 1),
            "target_inputs": (n_traj, n_tgt, d),
            "target_values": (n_traj, n_tgt, 1),
        }
        for name, shape in expected.items():
            if arrays[name].shape != shape or d < 1:
                raise ValueError(
                    f"PointData.{name}: got shape {arrays[name].shape}, expected {shape} "
                    "(n_traj, n_points, d >= 1 | 1)"
                )

    @property
    def n_traj(self) -> int:
        return int(self.context_inputs.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_ctx, n_tgt, d)``."""
        _, n_ctx, d = self.context_inputs.shape
        return int(n_ctx), int(self.target_inputs.shape[1]), int(d)


_POINT_NAMES = ("context_inputs", "context_values", "target_inputs", "target_values")


def _identical_arrays(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is b
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _identical_scalars(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    return bool(a == b)


def identical(a: Any, b: Any) -> bool:
    """Bitwise equality of arrays, exact (type and bits) equality of metadata, recursively."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        ok = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        return ok and _identical_arrays(a, b)
    if isinstance(a, Mapping):
        return (
            isinstance(b, Mapping) and list(a) == list(b) and all(identical(a[k], b[k]) for k in a)
        )
    if isinstance(a, tuple):
        return (
            isinstance(b, tuple)
            and len(a) == len(b)
            and all(identical(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, BoundaryData | ConservedData | PointData | PDEData):
        return type(a) is type(b) and all(
            identical(getattr(a, f.name), getattr(b, f.name)) for f in fields(a) if f.init
        )
    return _identical_scalars(a, b)


@dataclass(frozen=True, eq=False, repr=False)
class PDEData:
    """A dataset of PDE trajectories in memory (see the module docstring for all shapes).

    ``n_traj`` comes from the fields (else 2-D time, params, points, conserved data);
    ``n_steps = time.shape[-1]``. ``boundary`` is stored in canonical order (axes in ``coords``
    order, lower before upper). Compare two datasets with :meth:`identical`.
    """

    name: str
    fields: Mapping[str, np.ndarray]
    time: np.ndarray
    coords: Mapping[str, np.ndarray]
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    constants: Mapping[str, float | int | str] = field(default_factory=dict)
    boundary: tuple[BoundaryData, ...] = ()
    conserved: ConservedData | None = None
    points: PointData | None = None
    generator: str = ""
    generator_version: str = ""
    seed: int | None = None

    def __post_init__(self) -> None:
        validate_pdedata(self)

    def __repr__(self) -> str:
        fields_ = ", ".join(f"{k}: {v.dtype}{tuple(v.shape)}" for k, v in self.fields.items())
        return (
            f"PDEData(name={self.name!r}, n_traj={self.n_traj}, n_steps={self.n_steps}, "
            f"coords={dict(zip(self.coords, self.grid_shape, strict=True))}, fields={{{fields_}}}, "
            f"params={list(self.params)}, bc={[(b.face, b.kind) for b in self.boundary]}, "
            f"conserved={self.conserved is not None}, points={self.points is not None}, "
            f"generator={self.generator!r}, seed={self.seed})"
        )

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def n_traj(self) -> int:
        return int(self.__dict__["_n_traj"])

    @property
    def n_steps(self) -> int:
        return int(self.time.shape[-1])

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return tuple(int(c.shape[0]) for c in self.coords.values())

    @property
    def schema(self) -> DatasetSchema:
        return DatasetSchema(
            name=self.name,
            spatial_dims=tuple(self.coords),
            grid_shape=self.grid_shape,
            field_names=tuple(self.fields),
            field_dtypes=tuple(str(a.dtype) for a in self.fields.values()),
            n_traj=self.n_traj,
            n_steps=self.n_steps,
            param_names=tuple(self.params),
            constant_names=tuple(self.constants),
            bc=tuple((b.axis, b.side, b.kind) for b in self.boundary),
            has_conserved=self.conserved is not None,
            has_points=self.points is not None,
            points_shape=None if self.points is None else self.points.shape,
        )

    def identical(self, other: PDEData) -> bool:
        """True iff every array is bitwise equal (dtype, shape, bytes) and all metadata is exactly
        equal (same types; floats compared bit for bit)."""
        return identical(self, other)


__all__ = [
    "AXES",
    "BC_KINDS",
    "DERIVATIONS",
    "RESERVED_ATTRS",
    "SIDES",
    "WELL_BC_TYPE",
    "BoundaryData",
    "ConservedData",
    "DatasetSchema",
    "PDEData",
    "PointData",
]
