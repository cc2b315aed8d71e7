"""HDF5 store for :class:`~pcml.data.schema.PDEData`, laid out as in The Well (channels-last).

Layout (``docs``: ecosystem §4)::

    root attrs   pcml_format_version, pcml_version, dataset_name, grid_type="cartesian",
                 n_spatial_dims, n_trajectories, simulation_parameters (params + constants),
                 constant_names, one attr per constant, generator, generator_version,
                 seed (-1 when None)
    dimensions/  time (n_steps,) | (n_traj, n_steps); x (n_x,) [, y, z]; attr spatial_dims
    scalars/     params (n_traj,); attr field_names
    t0_fields/   fields (n_traj, n_steps, *grid); attr field_names   (t1_fields/, t2_fields/ empty)
    boundary_conditions/<axis>_<side>/
                 attrs associated_dims, associated_fields, bc_type (WALL|PERIODIC), bc_kind,
                       sample_varying, time_varying [, stencil_order]
                 mask (n_axis,) bool, True at the face index; values (n_traj|1, n_steps|1, *face)
                 (no values for periodic faces)
    conserved/   mass_rhs (n_traj, n_steps); attrs quantity, domain, derivation, rule
    points/      context_inputs, context_values, target_inputs, target_values

Arrays are stored at the dtype given, so values round-trip bit for bit; metadata round-trips
exactly (str, int, float, bool).

Integrity (format 2): every dataset is chunked with the HDF5 Fletcher32 filter (HDF5 checks each
chunk as it is read, so lazy views are covered) and carries ``pcml_sha256``, the SHA-256 of its
dtype, shape and C-order bytes; the root attribute ``pcml_sha256`` is the SHA-256 of all
metadata (every group, dataset, dtype, shape and attribute, those per-dataset hashes included).
:func:`read_schema` and :func:`read_skeleton` verify the metadata hash and the arrays they load;
:func:`read_dataset` and :func:`verify_dataset` verify everything. A flipped byte therefore either
raises ``ValueError`` naming the file or leaves the content unchanged (unused bytes). Files of
format 1 (no checksums) are still read, but :func:`verify_dataset` and :func:`cached_dataset`
refuse them. External, soft and virtual links and external storage are refused (pcml writes
none; they would make a small file read other files or gigabytes).

Nothing is pickled (the original ProbConserv ``test.pt`` pickled ``Stefan`` objects and needed
``weights_only=False``). Writes are atomic: a temp file in the target folder, flushed and fsynced,
then ``os.replace``; a failure leaves no partial file and no litter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import h5py
import numpy as np

from .._version import __version__
from .schema import (
    AXES,
    SIDES,
    WELL_BC_TYPE,
    BoundaryData,
    ConservedData,
    DatasetSchema,
    PDEData,
    PointData,
)

FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)  # 1: no checksums
_HASH_ATTR = "pcml_sha256"
_BLOCK_BYTES = 16 << 20  # rows read at a time when hashing or scanning a dataset
_CHUNK_BYTES = 1 << 22  # largest HDF5 chunk written
_SMALL_BYTES = 1 << 28  # largest coords/time/params/mask/mass_rhs array a skeleton loads
_LIBVER = ("v110", "v110")  # v2 object headers (checksummed); readable by HDF5 >= 1.10
_STR = h5py.string_dtype()
_POINTS = ("context_inputs", "context_values", "target_inputs", "target_values")


def _strings(values: Iterable[str]) -> np.ndarray:
    return np.array(list(values), dtype=_STR)


def write_dataset(path: str | os.PathLike[str], data: PDEData) -> Path:
    """Write ``data`` to ``path`` atomically (replacing any existing file); returns the path."""
    if not isinstance(data, PDEData):
        raise ValueError(f"write_dataset: data is a {type(data).__name__}, expected PDEData")
    path = Path(path)
    if not path.parent.is_dir():
        raise ValueError(f"write_dataset: folder {path.parent} of path {path} does not exist")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with h5py.File(tmp, "w-", libver=_LIBVER) as f:
            _write_root(f, data)
            _write_dimensions(f, data)
            _write_fields(f, data)
            _write_boundary(f, data)
            _write_conserved(f, data)
            _write_points(f, data)
            _seal(f)
            f.flush()
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # persist the rename; not possible on every platform
        _fsync(path.parent)
    return path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...] | bool:
    """Chunks of whole trailing blocks (a trajectory, or fewer axes when that is bigger than
    ``_CHUNK_BYTES``): the views read one trajectory at a time, and Fletcher32 checks a whole
    chunk on every read."""
    if not shape or 0 in shape:
        return True
    axis = 0
    while axis < len(shape) - 1 and itemsize * math.prod(shape[axis + 1 :]) > _CHUNK_BYTES:
        axis += 1
    limit = max(1, min(shape[axis], _CHUNK_BYTES // (itemsize * math.prod(shape[axis + 1 :]))))
    rows = max(r for r in range(1, limit + 1) if shape[axis] % r == 0)  # no padded last chunk
    return (1,) * axis + (rows,) + tuple(shape[axis + 1 :])


def _create(g: h5py.Group, name: str, value: np.ndarray) -> h5py.Dataset:
    """A chunked dataset with the Fletcher32 checksum filter and its content hash (hashed from
    memory, except bool arrays, which are hashed as read back: HDF5 stores them as int8)."""
    arr = np.asarray(value)
    d = g.create_dataset(
        name, data=arr, chunks=_chunks(arr.shape, arr.dtype.itemsize), fletcher32=True
    )
    d.attrs[_HASH_ATTR] = _digest(d, _blocks(d) if arr.dtype.kind == "b" else (arr,))
    return d


def _seal(f: h5py.File) -> None:
    """Store the metadata hash at the root (module doc), after every dataset has its own."""
    f.attrs[_HASH_ATTR] = _meta_digest(f)


def _blocks(d: h5py.Dataset) -> Iterable[np.ndarray]:
    """The dataset's values in C order, in slices of at most ``_BLOCK_BYTES`` (leading axes are
    indexed one at a time until the rest fits), so memory stays bounded for any shape."""
    if d.ndim == 0 or d.size == 0:
        yield np.asarray(d[()])
        return
    shape, item = tuple(d.shape), d.dtype.itemsize
    axis = 0
    while axis < len(shape) - 1 and item * math.prod(shape[axis + 1 :]) > _BLOCK_BYTES:
        axis += 1
    step = max(1, _BLOCK_BYTES // (item * math.prod(shape[axis + 1 :])))
    for lead in np.ndindex(*shape[:axis]):
        for i in range(0, shape[axis], step):
            yield np.asarray(d[(*lead, slice(i, i + step))])


def _digest(d: h5py.Dataset, blocks: Iterable[np.ndarray]) -> str:
    """SHA-256 of the dtype, shape and C-order bytes of a dataset's values."""
    h = hashlib.sha256(f"{np.dtype(d.dtype).str}{tuple(d.shape)}".encode())
    for block in blocks:
        h.update(np.ascontiguousarray(block).reshape(-1).view(np.uint8).data)
    return h.hexdigest()


def _canon_attr(v: Any) -> Any:
    """A JSON-able exact form of an attribute value."""
    if isinstance(v, str):
        return ["s", v]
    if isinstance(v, bytes):
        return ["b", v.hex()]
    arr = np.asarray(v)
    if arr.dtype.kind == "O":
        return ["o", list(arr.shape), [_canon_attr(x) for x in arr.reshape(-1)]]
    return ["a", arr.dtype.str, list(arr.shape), np.ascontiguousarray(arr).tobytes().hex()]


def _meta_digest(f: h5py.File) -> str:
    """SHA-256 of every object's path, kind, dtype, shape and attributes (root hash excluded)."""
    names: list[str] = []
    f.visit(names.append)
    h = hashlib.sha256()
    for name in ["/", *sorted(names)]:
        obj = f[name]
        head: list[Any] = [name, type(obj).__name__]
        if isinstance(obj, h5py.Dataset):
            head += [np.dtype(obj.dtype).str, list(obj.shape)]
        attrs = [
            [k, _canon_attr(obj.attrs[k])]
            for k in sorted(obj.attrs)
            if not (name == "/" and k == _HASH_ATTR)
        ]
        h.update(json.dumps([head, attrs]).encode())
    return h.hexdigest()


def _write_root(f: h5py.File, data: PDEData) -> None:
    a = f.attrs
    a["pcml_format_version"] = np.int64(FORMAT_VERSION)
    a["pcml_version"] = __version__
    a["dataset_name"] = data.name
    a["grid_type"] = "cartesian"
    a["n_spatial_dims"] = np.int64(len(data.coords))
    a["n_trajectories"] = np.int64(data.n_traj)
    a["simulation_parameters"] = _strings([*data.params, *data.constants])
    a["constant_names"] = _strings(data.constants)
    for name, value in data.constants.items():
        if isinstance(value, bool):
            a[name] = np.bool_(value)
        elif isinstance(value, int):
            a[name] = np.int64(value)
        elif isinstance(value, float):
            a[name] = np.float64(value)
        else:
            a[name] = value
    a["generator"] = data.generator
    a["generator_version"] = data.generator_version
    a["seed"] = np.int64(-1 if data.seed is None else data.seed)


def _varying(obj: h5py.HLObject, sample: bool, time: bool) -> None:
    obj.attrs["sample_varying"] = np.bool_(sample)
    obj.attrs["time_varying"] = np.bool_(time)


def _write_dimensions(f: h5py.File, data: PDEData) -> None:
    g = f.create_group("dimensions")
    g.attrs["spatial_dims"] = _strings(data.coords)
    _varying(_create(g, "time", data.time), data.time.ndim == 2, True)
    for axis, c in data.coords.items():
        _varying(_create(g, axis, c), False, False)
    s = f.create_group("scalars")
    s.attrs["field_names"] = _strings(data.params)
    for name, p in data.params.items():
        _varying(_create(s, name, p), True, False)


def _write_fields(f: h5py.File, data: PDEData) -> None:
    g = f.create_group("t0_fields")
    g.attrs["field_names"] = _strings(data.fields)
    for name, u in data.fields.items():
        d = _create(g, name, u)
        d.attrs["dim_varying"] = np.ones(len(data.coords), dtype=bool)
        _varying(d, True, True)
    for order in ("t1_fields", "t2_fields"):  # The Well's reader expects them
        f.create_group(order).attrs["field_names"] = _strings([])


def _write_boundary(f: h5py.File, data: PDEData) -> None:
    g = f.create_group("boundary_conditions")
    for b in data.boundary:
        h = g.create_group(b.face)
        h.attrs["associated_dims"] = _strings([b.axis])
        h.attrs["associated_fields"] = _strings(data.fields)
        h.attrs["bc_type"] = WELL_BC_TYPE[b.kind]
        h.attrs["bc_kind"] = b.kind
        mask = np.zeros(data.coords[b.axis].shape[0], dtype=bool)
        mask[0 if b.side == "lower" else -1] = True
        _create(h, "mask", mask)
        if b.values is None:
            _varying(h, False, False)
        else:
            _varying(h, b.values.shape[0] > 1, b.values.shape[1] > 1)
            _create(h, "values", b.values)
        if b.stencil_order is not None:
            h.attrs["stencil_order"] = np.int64(b.stencil_order)


def _write_conserved(f: h5py.File, data: PDEData) -> None:
    c = data.conserved
    if c is None:
        return
    g = f.create_group("conserved")
    _create(g, "mass_rhs", c.mass_rhs)
    g.attrs["quantity"] = c.quantity
    g.attrs["domain"] = np.asarray(c.domain, dtype=np.float64)
    g.attrs["derivation"] = c.derivation
    g.attrs["rule"] = c.rule


def _write_points(f: h5py.File, data: PDEData) -> None:
    if data.points is None:
        return
    g = f.create_group("points")
    for name in _POINTS:
        _create(g, name, getattr(data.points, name))


class _FormatError(Exception):
    """A file that is valid HDF5 but not a valid pcml dataset."""


class _Reader:
    """Reads one open file; with ``load=False`` big arrays become zero-stride placeholders of the
    right shape and dtype (for schema inspection and lazy views)."""

    def __init__(self, f: h5py.File, load: bool) -> None:
        self.f, self.load = f, load
        self.loaded: dict[str, np.ndarray] = {}  # dataset name -> values read

    def group(self, name: str, required: bool = True) -> h5py.Group | None:
        obj = self.f.get(name)
        if obj is None and not required:
            return None
        if not isinstance(obj, h5py.Group):
            raise _FormatError(f"missing required group '{name}/'")
        return obj

    def dataset(self, g: h5py.Group, name: str) -> h5py.Dataset:
        obj = g.get(name)
        if not isinstance(obj, h5py.Dataset):
            raise _FormatError(f"missing required dataset '{g.name}/{name}'".replace("//", "/"))
        if obj.dtype.kind not in "biuf":
            raise _FormatError(f"dataset '{obj.name}' has dtype {obj.dtype}, expected numbers")
        return obj

    def array(self, g: h5py.Group, name: str, big: bool = False) -> np.ndarray:
        d = self.dataset(g, name)
        if big and not self.load:
            return np.broadcast_to(np.zeros((), dtype=d.dtype), d.shape)
        if not self.load and d.size * d.dtype.itemsize > _SMALL_BYTES:
            raise _FormatError(
                f"dataset '{d.name}' declares {d.size * d.dtype.itemsize} bytes, more than the "
                f"{_SMALL_BYTES} a grid, time or parameter array can need"
            )
        try:
            values = np.asarray(d[()])
        except OSError as err:
            raise _FormatError(
                f"dataset '{d.name}' cannot be read (failed Fletcher32 checksum or damaged): {err}"
            ) from None
        self.loaded[d.name] = values
        return values

    def check_links(self) -> None:
        """Refuse soft/external links, virtual datasets and external storage."""
        bad: list[str] = []

        def visit(name: str, link: Any) -> None:
            if not isinstance(link, h5py.HardLink):
                kind = {"ExternalLink": "an external link", "SoftLink": "a soft link"}
                bad.append(f"'{name}' is {kind.get(type(link).__name__, type(link).__name__)}")

        self.f.visititems_links(visit)
        if not bad:
            datasets: list[h5py.Dataset] = []
            self.f.visititems(
                lambda _, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None
            )
            for d in datasets:
                if d.is_virtual:
                    bad.append(f"'{d.name}' is a virtual dataset")
                elif d.external:
                    bad.append(f"'{d.name}' stores its data in external files")
        if bad:
            raise _FormatError(
                "refusing links to other files or objects, virtual datasets and external storage "
                f"(pcml writes none): {'; '.join(bad)}"
            )

    def ranges(self, checked: bool) -> dict[str, tuple[Any, Any] | None]:
        """(min, max) of every dataset, streamed block by block; ``checked``: each one's hash
        is verified in the same pass."""
        datasets: list[h5py.Dataset] = []
        self.f.visititems(lambda _, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None)
        out: dict[str, tuple[Any, Any] | None] = {}
        for d in datasets:
            lo: Any = None
            hi: Any = None

            def stats(blocks: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
                nonlocal lo, hi
                for block in blocks:
                    if block.size:
                        bmin, bmax = block.min(), block.max()
                        lo = bmin if lo is None else np.minimum(lo, bmin)
                        hi = bmax if hi is None else np.maximum(hi, bmax)
                    yield block

            try:
                digest = _digest(d, stats(_blocks(d)))
            except OSError as err:
                raise _FormatError(
                    f"dataset '{d.name}' cannot be read (failed Fletcher32 checksum or damaged): "
                    f"{err}"
                ) from None
            if checked and digest != self.attr(d, _HASH_ATTR, "str"):
                raise _FormatError(
                    f"checksum mismatch in dataset '{d.name}' (the file changed or was "
                    "corrupted after writing)"
                )
            out[d.name] = None if lo is None else (lo, hi)
        return out

    def verify(self, version: int, everything: bool, require: bool) -> None:
        """Check the metadata hash and the hash of every loaded array (``everything``: of every
        dataset, reading the ones not loaded block by block; ``require``: refuse format 1)."""
        if version < 2:
            if require:
                raise _FormatError(
                    f"pcml_format_version {version} files carry no checksums; regenerate it"
                )
            return
        stored = self.attr(self.f, _HASH_ATTR, "str")
        if _meta_digest(self.f) != stored:
            raise _FormatError(
                "metadata checksum mismatch (the file changed or was corrupted after writing)"
            )
        datasets: list[h5py.Dataset] = []
        self.f.visititems(lambda _, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None)
        for d in datasets:
            values = self.loaded.get(d.name)
            if values is None and not everything:
                continue
            try:
                digest = _digest(d, _blocks(d) if values is None else (values,))
            except OSError as err:
                raise _FormatError(
                    f"dataset '{d.name}' cannot be read (failed Fletcher32 checksum or damaged): "
                    f"{err}"
                ) from None
            if digest != self.attr(d, _HASH_ATTR, "str"):
                raise _FormatError(
                    f"checksum mismatch in dataset '{d.name}' (the file changed or was "
                    "corrupted after writing)"
                )

    def attr(self, obj: h5py.HLObject, name: str, kind: str, default: Any = ...) -> Any:
        where = f"attribute '{name}' of '{obj.name}'"
        if name not in obj.attrs:
            if default is not ...:
                return default
            raise _FormatError(f"missing required {where}")
        v = obj.attrs[name]
        if kind == "str" and isinstance(v, str):
            return v
        if kind == "int" and isinstance(v, int | np.integer) and not isinstance(v, np.bool_):
            return int(v)
        if kind == "bool" and isinstance(v, bool | np.bool_):
            return bool(v)
        if kind == "strs" and isinstance(v, np.ndarray) and v.ndim == 1:
            if v.dtype.kind == "O" and all(isinstance(s, str | bytes) for s in v):
                return tuple(s.decode() if isinstance(s, bytes) else s for s in v)
        if kind == "floats" and isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.ndim == 1:
            return tuple(float(x) for x in v)
        if kind == "constant":
            if isinstance(v, np.bool_):
                return bool(v)
            if isinstance(v, np.integer):
                return int(v)
            if isinstance(v, np.floating):
                return float(v)
            if isinstance(v, str):
                return v
        raise _FormatError(f"{where} is {type(v).__name__} {v!r}, expected {kind}")

    def pdedata(self) -> PDEData:
        f, attr = self.f, self.attr
        version = attr(f, "pcml_format_version", "int")
        if version not in _READABLE_VERSIONS:
            raise _FormatError(
                f"pcml_format_version {version} is not supported ({_READABLE_VERSIONS})"
            )
        if attr(f, "grid_type", "str") != "cartesian":
            raise _FormatError("grid_type is not 'cartesian'")
        dims = self.group("dimensions")
        assert dims is not None
        spatial = attr(dims, "spatial_dims", "strs")
        if attr(f, "n_spatial_dims", "int") != len(spatial):
            raise _FormatError(f"n_spatial_dims does not match spatial_dims {spatial}")
        coords = {a: self.array(dims, a) for a in spatial}
        scalars = self.group("scalars")
        assert scalars is not None
        params = {n: self.array(scalars, n) for n in attr(scalars, "field_names", "strs")}
        constants = {n: attr(f, n, "constant") for n in attr(f, "constant_names", "strs")}
        if attr(f, "simulation_parameters", "strs") != (*params, *constants):
            raise _FormatError("simulation_parameters is not scalars/ names + constant_names")
        t0 = self.group("t0_fields")
        assert t0 is not None
        fields = {n: self.array(t0, n, big=True) for n in attr(t0, "field_names", "strs")}
        seed = attr(f, "seed", "int")
        data = PDEData(
            name=attr(f, "dataset_name", "str"),
            fields=fields,
            time=self.array(dims, "time"),
            coords=coords,
            params=params,
            constants=constants,
            boundary=self.boundary(coords),
            conserved=self.conserved(),
            points=self.points(),
            generator=attr(f, "generator", "str"),
            generator_version=attr(f, "generator_version", "str"),
            seed=None if seed == -1 else seed,
        )
        if attr(f, "n_trajectories", "int") != data.n_traj:
            raise _FormatError(f"n_trajectories does not match the arrays (n_traj={data.n_traj})")
        return data

    def boundary(self, coords: dict[str, np.ndarray]) -> tuple[BoundaryData, ...]:
        g = self.group("boundary_conditions")
        assert g is not None
        out = []
        for face in g:
            h = g[face]
            axis, _, side = face.partition("_")
            if axis not in AXES or side not in SIDES or not isinstance(h, h5py.Group):
                raise _FormatError(f"unexpected entry '{h.name}', expected groups <axis>_<side>")
            kind = self.attr(h, "bc_kind", "str")
            if WELL_BC_TYPE.get(kind) != self.attr(h, "bc_type", "str"):
                raise _FormatError(f"bc_type of '{h.name}' does not match bc_kind {kind!r}")
            if self.attr(h, "associated_dims", "strs") != (axis,):
                raise _FormatError(f"associated_dims of '{h.name}' is not ['{axis}']")
            mask = self.array(h, "mask")
            expected = np.zeros(coords[axis].shape if axis in coords else (0,), dtype=bool)
            if expected.size:
                expected[0 if side == "lower" else -1] = True
            if mask.shape != expected.shape or not np.array_equal(mask, expected):
                raise _FormatError(f"mask of '{h.name}' does not mark the {side} face of {axis}")
            values = self.array(h, "values", big=True) if kind != "periodic" else None
            varying = (
                (False, False) if values is None else (values.shape[0] > 1, values.shape[1] > 1)
            )
            attrs = (self.attr(h, "sample_varying", "bool"), self.attr(h, "time_varying", "bool"))
            if attrs != varying:
                raise _FormatError(f"sample_varying/time_varying of '{h.name}' contradict values")
            order = self.attr(h, "stencil_order", "int", default=None)
            out.append(BoundaryData(axis, side, kind, values, order))
        return tuple(out)

    def conserved(self) -> ConservedData | None:
        g = self.group("conserved", required=False)
        if g is None:
            return None
        return ConservedData(
            mass_rhs=self.array(g, "mass_rhs"),
            quantity=self.attr(g, "quantity", "str"),
            domain=self.attr(g, "domain", "floats"),
            derivation=self.attr(g, "derivation", "str"),
            rule=self.attr(g, "rule", "str"),
        )

    def points(self) -> PointData | None:
        g = self.group("points", required=False)
        if g is None:
            return None
        return PointData(*(self.array(g, n, big=True) for n in _POINTS))


T = TypeVar("T")


def _open(path: str | os.PathLike[str], fn: Callable[[_Reader, int], T], load: bool) -> T:
    """``fn(reader, format_version)`` on the open file after the link check; every problem
    becomes a ``ValueError`` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"{path}: not a readable HDF5 file (wrong format or truncated): {err}"
        ) from err
    with f:
        try:
            reader = _Reader(f, load)
            reader.check_links()
            return fn(reader, int(f.attrs["pcml_format_version"]))
        except _FormatError as err:
            raise ValueError(f"{path}: not a valid pcml dataset: {err}") from None
        except ValueError as err:
            raise ValueError(f"{path}: inconsistent contents: {err}") from err
        except (OSError, RuntimeError, KeyError, TypeError, IndexError, OverflowError) as err:
            raise ValueError(f"{path}: corrupt or truncated HDF5 data: {err}") from err


def _read(
    path: str | os.PathLike[str], load: bool, everything: bool = False, require: bool = False
) -> PDEData:
    def fn(reader: _Reader, version: int) -> PDEData:
        data = reader.pdedata()
        reader.verify(version, everything, require)
        return data

    return _open(path, fn, load)


def read_dataset(
    path: str | os.PathLike[str],
    expect: DatasetSchema | None = None,
    *,
    ignore: tuple[str, ...] = (),
) -> PDEData:
    """Read, validate and verify (every checksum, module doc) a dataset written by
    :func:`write_dataset`.

    Raises ``ValueError`` naming the file for a non-HDF5/truncated file, a missing group,
    dataset or attribute, inconsistent shapes, or (if ``expect`` is given) a schema that differs
    from ``expect`` in any field not listed in ``ignore`` (e.g. ``ignore=("n_traj",)``).
    """
    data = _read(path, load=True, everything=True)
    check_schema(path, data.schema, expect, ignore)
    return data


def verify_dataset(path: str | os.PathLike[str]) -> None:
    """Raise ``ValueError`` naming ``path`` unless it is a valid dataset whose every checksum
    matches (format 1 files, which have none, are refused). Reads values block by block."""
    _read(path, load=False, everything=True, require=True)


def cached_dataset(
    path: str | os.PathLike[str],
    build: Callable[[], PDEData],
    log: Callable[[str], object] | None = None,
) -> Path:
    """A derived-data cache file: ``path`` if it passes :func:`verify_dataset`, otherwise
    ``write_dataset(path, build())`` (after logging why, when the file existed); returns ``path``.
    A cache is never used without checking it."""
    path = Path(path)
    if path.exists():
        try:
            verify_dataset(path)
            return path
        except ValueError as err:
            if log is not None:
                log(f"data: regenerating {path.name}: {err}")
    return write_dataset(path, build())


def read_info(
    path: str | os.PathLike[str],
) -> tuple[PDEData, dict[str, tuple[Any, Any] | None]]:
    """For ``pcml data info``: the validated skeleton (:func:`read_skeleton`) and ``{HDF5 name:
    (min, max) or None if empty}`` of every dataset, read block by block (memory bounded by
    ``_BLOCK_BYTES``, never a whole field) while verifying its checksum."""

    def fn(reader: _Reader, version: int) -> tuple[PDEData, dict[str, tuple[Any, Any] | None]]:
        data = reader.pdedata()
        reader.verify(version, everything=False, require=False)
        return data, reader.ranges(checked=version >= 2)

    return _open(path, fn, load=False)


def read_schema(path: str | os.PathLike[str]) -> DatasetSchema:
    """The :class:`DatasetSchema` of a file, validated without reading field/point values."""
    return _read(path, load=False).schema


def read_skeleton(path: str | os.PathLike[str]) -> PDEData:
    """Validated metadata, coords, time, params and conserved data; fields, boundary values and
    points are zero-stride placeholders (right shape and dtype, no values). For lazy views."""
    return _read(path, load=False)


def check_schema(
    path: str | os.PathLike[str],
    actual: DatasetSchema,
    expect: DatasetSchema | None,
    ignore: tuple[str, ...] = (),
) -> None:
    """Raise ``ValueError`` naming ``path`` if ``actual`` differs from ``expect``."""
    if expect is None:
        return
    if not isinstance(expect, DatasetSchema):
        raise ValueError(f"expect: got {type(expect).__name__}, expected a DatasetSchema or None")
    diff = expect.mismatches(actual, ignore)
    if diff:
        raise ValueError(f"{path}: schema differs from the expected one: " + "; ".join(diff))
