"""Validation of :class:`~pcml.data.schema.PDEData`: names, dtypes and mutually consistent shapes.

Shape rules (``G = grid_shape``, ``F(axis) = G`` without ``axis``)::

    fields[k]            (n_traj, n_steps, *G)
    time                 (n_steps,) | (n_traj, n_steps)      finite, strictly increasing
    coords[axis]         (G[axis],)                          finite, strictly increasing
    params[k]            (n_traj,)
    boundary values      (n_traj|1, n_steps|1, *(F(axis)[i]|1))
    conserved.mass_rhs   (n_traj, n_steps)
    points.*             (n_traj, ...)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:
    from .schema import PDEData

_NUMERIC_KINDS = "biuf"
_INT64_MAX = 2**63 - 1


def check_text(value: Any, what: str, *, nonempty: bool = False) -> str:
    """A str storable as an HDF5 UTF-8 attribute (no NUL, no lone surrogates)."""
    if not isinstance(value, str):
        raise ValueError(f"{what}: got {type(value).__name__} {value!r}, expected str")
    if nonempty and not value:
        raise ValueError(f"{what}: got an empty string, expected a non-empty str")
    if "\x00" in value:
        raise ValueError(f"{what}: got {value!r}, which contains NUL; HDF5 strings cannot")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"{what}: got {value!r}, which is not encodable as UTF-8") from err
    return value


def check_name(value: Any, what: str) -> str:
    """A Python identifier (usable as an HDF5 object/attribute name and as a dict key)."""
    if not isinstance(value, str) or not value.isidentifier() or not value.isascii():
        raise ValueError(f"{what}: got {value!r}, expected an ASCII identifier such as 'u'")
    return value


def as_numeric(value: Any, what: str) -> np.ndarray:
    """``np.asarray(value)`` with a bool/int/uint/float dtype (no copy, no cast)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in _NUMERIC_KINDS or arr.dtype.byteorder not in "=|<":
        raise ValueError(
            f"{what}: got dtype {arr.dtype}, expected a little-endian bool/int/uint/float dtype"
        )
    return arr


def check_increasing(arr: np.ndarray, what: str) -> None:
    """Finite and strictly increasing along the last axis."""
    if arr.dtype.kind == "b":
        raise ValueError(f"{what}: got dtype bool, expected numbers")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{what}: contains NaN/inf, expected finite values")
    if arr.shape[-1] > 1 and not np.all(np.diff(arr, axis=-1) > 0):
        raise ValueError(f"{what}: expected strictly increasing values along the last axis")


def normalise_constant(value: Any, what: str) -> bool | int | float | str:
    """Plain Python bool/int/float/str (numpy scalars converted exactly)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        if not -_INT64_MAX - 1 <= int(value) <= _INT64_MAX:
            raise ValueError(f"{what}: got {value}, expected an int that fits in int64")
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, str):
        return check_text(value, what)
    raise ValueError(f"{what}: got {type(value).__name__} {value!r}, expected bool/int/float/str")


V = TypeVar("V")


class FrozenMap(Mapping[str, V]):
    """A read-only, ordered, picklable mapping (``MappingProxyType`` cannot be pickled)."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, V]) -> None:
        self._items = dict(items)

    def __getitem__(self, key: str) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"FrozenMap({self._items!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (self._items,))


def _frozen(mapping: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{what}: got {type(mapping).__name__}, expected a mapping name -> value")
    return FrozenMap(mapping)


def _n_traj(data: PDEData) -> int:
    """The number of trajectories from the first source that defines it."""
    sources: list[tuple[str, int]] = [
        (f"fields[{k!r}]", v.shape[0]) for k, v in data.fields.items()
    ]
    if data.time.ndim == 2:
        sources.append(("time", data.time.shape[0]))
    sources += [(f"params[{k!r}]", v.shape[0]) for k, v in data.params.items()]
    if data.points is not None:
        sources.append(("points", data.points.n_traj))
    if data.conserved is not None:
        sources.append(("conserved.mass_rhs", data.conserved.mass_rhs.shape[0]))
    if not sources:
        raise ValueError(
            "PDEData: cannot tell n_traj; give fields, params, points, conserved or 2-D time"
        )
    name, n_traj = sources[0]
    if n_traj < 1:
        raise ValueError(f"PDEData.{name}: has {n_traj} trajectories, expected n_traj >= 1")
    return int(n_traj)


def _expect_shape(arr: np.ndarray, shape: tuple[int, ...], what: str, layout: str) -> None:
    if arr.shape != shape:
        raise ValueError(f"PDEData.{what}: got shape {arr.shape}, expected {shape} {layout}")


def validate_pdedata(data: PDEData) -> None:
    """Validate and normalise ``data`` in place (frozen dataclass: via ``object.__setattr__``)."""
    from .schema import AXES, RESERVED_ATTRS, BoundaryData, ConservedData, PointData

    check_text(data.name, "PDEData.name", nonempty=True)
    check_text(data.generator, "PDEData.generator")
    check_text(data.generator_version, "PDEData.generator_version")
    seed = data.seed
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
            raise ValueError(f"PDEData.seed: got {seed!r}, expected None or an int")
        if not 0 <= int(seed) <= _INT64_MAX:
            raise ValueError(f"PDEData.seed: got {seed}, expected 0 <= seed < 2**63")
        data._set("seed", int(seed))

    coords = _frozen(data.coords, "PDEData.coords")
    for axis, c in coords.items():
        if axis not in AXES:
            raise ValueError(f"PDEData.coords: got axis {axis!r}, expected names from {AXES}")
        arr = as_numeric(c, f"PDEData.coords[{axis!r}]")
        if arr.ndim != 1 or arr.shape[0] < 1:
            raise ValueError(
                f"PDEData.coords[{axis!r}]: got shape {arr.shape}, expected (n_{axis},)"
            )
        check_increasing(arr, f"PDEData.coords[{axis!r}]")
    coords = FrozenMap({k: np.asarray(v) for k, v in coords.items()})
    data._set("coords", coords)
    grid = tuple(int(c.shape[0]) for c in coords.values())

    time = as_numeric(data.time, "PDEData.time")
    if time.ndim not in (1, 2) or time.shape[-1] < 1:
        raise ValueError(
            f"PDEData.time: got shape {time.shape}, expected (n_steps,) or (n_traj, n_steps)"
        )
    check_increasing(time, "PDEData.time")
    data._set("time", time)
    n_steps = int(time.shape[-1])

    def arrays(mapping: Any, what: str) -> Mapping[str, np.ndarray]:
        out = {}
        for k, v in _frozen(mapping, what).items():
            out[check_name(k, f"{what} key")] = as_numeric(v, f"{what}[{k!r}]")
        return FrozenMap(out)

    data._set("fields", arrays(data.fields, "PDEData.fields"))
    data._set("params", arrays(data.params, "PDEData.params"))
    constants = {}
    for k, v in _frozen(data.constants, "PDEData.constants").items():
        check_name(k, "PDEData.constants key")
        if k in RESERVED_ATTRS or k in data.params:
            raise ValueError(
                f"PDEData.constants: name {k!r} is reserved or also a param; reserved names are"
                f" {sorted(RESERVED_ATTRS)}"
            )
        constants[k] = normalise_constant(v, f"PDEData.constants[{k!r}]")
    data._set("constants", FrozenMap(constants))
    for what, obj, cls in (
        ("conserved", data.conserved, ConservedData),
        ("points", data.points, PointData),
    ):
        if obj is not None and not isinstance(obj, cls):
            raise ValueError(f"PDEData.{what}: got {type(obj).__name__}, expected {cls.__name__}")

    n_traj = _n_traj(data)
    data._set("_n_traj", n_traj)
    if time.ndim == 2:
        _expect_shape(time, (n_traj, n_steps), "time", "(n_traj, n_steps)")
    for k, v in data.fields.items():
        _expect_shape(v, (n_traj, n_steps, *grid), f"fields[{k!r}]", "(n_traj, n_steps, *grid)")
    for k, v in data.params.items():
        _expect_shape(v, (n_traj,), f"params[{k!r}]", "(n_traj,)")
    if data.conserved is not None:
        rhs = data.conserved.mass_rhs
        _expect_shape(rhs, (n_traj, n_steps), "conserved.mass_rhs", "(n_traj, n_steps)")
        domain = data.conserved.domain
        if grid and len(domain) != 2 * len(grid):
            raise ValueError(
                f"PDEData.conserved.domain: got {domain}, expected {2 * len(grid)} bounds for "
                f"spatial dims {tuple(coords)}"
            )
    if data.points is not None and data.points.n_traj != n_traj:
        raise ValueError(
            f"PDEData.points: got {data.points.n_traj} trajectories, expected n_traj={n_traj}"
        )

    boundary = tuple(data.boundary)
    faces: dict[tuple[str, str], BoundaryData] = {}
    for b in boundary:
        if not isinstance(b, BoundaryData):
            raise ValueError(f"PDEData.boundary: got {type(b).__name__}, expected BoundaryData")
        if b.axis not in coords:
            raise ValueError(
                f"PDEData.boundary: face {b.face} is on axis {b.axis!r}; coords are {tuple(coords)}"
            )
        if (b.axis, b.side) in faces:
            raise ValueError(f"PDEData.boundary: face {b.face} given twice")
        faces[(b.axis, b.side)] = b
        _check_face_values(b, n_traj, n_steps, grid, list(coords).index(b.axis))
    for (axis, side), b in faces.items():
        other = faces.get((axis, "upper" if side == "lower" else "lower"))
        if (b.kind == "periodic") != (other is not None and other.kind == "periodic"):
            raise ValueError(
                f"PDEData.boundary: periodic faces come in pairs; {b.face} is {b.kind} but the "
                f"opposite face is {'missing' if other is None else other.kind}"
            )
    axis_order = {a: i for i, a in enumerate(coords)}
    ordered = sorted(boundary, key=lambda b: (axis_order[b.axis], b.side != "lower"))
    data._set("boundary", tuple(ordered))


def _check_face_values(b: Any, n_traj: int, n_steps: int, grid: tuple[int, ...], i: int) -> None:
    if b.values is None:
        return
    face = grid[:i] + grid[i + 1 :]
    full = (n_traj, n_steps, *face)
    shape = b.values.shape
    if len(shape) != len(full) or any(s not in (1, f) for s, f in zip(shape, full, strict=True)):
        raise ValueError(
            f"PDEData.boundary[{b.face}].values: got shape {shape}, expected {full} "
            "(n_traj, n_steps, *face_shape) with any axis possibly 1 (broadcast)"
        )
