"""Lazy torch ``Dataset`` views of a pcml HDF5 file (one item = one trajectory).

``H5FieldDataset`` item for trajectory i (C = number of fields, T = number of steps)::

    x  = stack_c u_c[i, input_steps]    (C_in, *grid)  if one input step  else (C_in, *grid, T_in)
    y  = stack_c u_c[i, target_steps]   (C_out, *grid) if one target step else (C_out, *grid, T_out)
    bc = {"x_lower": g[i, target_steps] (*face) or (*face, T_out), ...}  dirichlet/neumann faces
    params = {name: scalar}, mass_rhs = b_i(t_target) () or (T_out,)  (if the file has conserved/)

Time is the LAST axis, matching an operator grid (x, t) or (x, y, t); broadcast axes of the stored
boundary values are expanded. ``H5PointDataset`` yields the ANP point sets of ``points/``.

The file is opened on the first ``__getitem__`` in each process (a DataLoader worker re-opens it
after fork; the object pickles without its handle), and each item reads only its own slices.
Construction verifies the file's metadata checksum; HDF5 verifies each chunk's Fletcher32 checksum
as an item reads it, and a failure raises ``ValueError`` naming the file and the item.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import Dataset

from .schema import DatasetSchema, PDEData
from .store import read_skeleton


@dataclass(frozen=True, eq=False)
class FieldViewMetadata:
    """What a model needs besides the tensors: the schema, the grid, the times of the selected
    steps (``(T,)``, or ``(n_traj, T)`` for per-trajectory times) and each face's BC kind."""

    schema: DatasetSchema
    coords: Mapping[str, np.ndarray]
    input_steps: tuple[int, ...]
    target_steps: tuple[int, ...]
    input_time: np.ndarray
    target_time: np.ndarray
    bc_kinds: Mapping[str, str]


@dataclass(frozen=True, eq=False)
class PointViewMetadata:
    """Schema and ``(n_ctx, n_tgt, d)`` of the point sets."""

    schema: DatasetSchema
    points_shape: tuple[int, int, int]


class _LazyH5(Dataset[dict[str, Any]]):
    """An h5py handle opened on first use, per process, and never pickled."""

    def __init__(self, path: str | os.PathLike[str], dtype: torch.dtype) -> None:
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"dtype: got {dtype!r}, expected a floating torch dtype")
        self.path = Path(path)
        self.dtype = dtype
        self._file: h5py.File | None = None
        self._pid: int | None = None

    def _skeleton(self) -> PDEData:
        """Validated metadata; its big arrays are placeholders, so it is never kept (a pickled
        zero-stride placeholder would materialise at full size)."""
        sk = read_skeleton(self.path)
        self._n_traj = sk.n_traj
        self._param_values = dict(sk.params)  # (n_traj,) each, small
        return sk

    def __len__(self) -> int:
        return self._n_traj

    def _h5(self) -> h5py.File:
        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def _index(self, index: int) -> int:
        n = len(self)
        if not isinstance(index, int | np.integer) or not -n <= index < n:
            raise IndexError(f"index: got {index!r}, expected an int in [-{n}, {n})")
        return int(index) % n

    def _params(self, i: int) -> dict[str, torch.Tensor]:
        out = {}
        for name, p in self._param_values.items():
            t = torch.as_tensor(p[i])
            out[name] = t.to(self.dtype) if t.is_floating_point() else t
        return out

    def close(self) -> None:
        """Close this process's handle (it reopens on the next item)."""
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file, self._pid = None, None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_file"], state["_pid"] = None, None
        return state


def _steps(steps: int | Sequence[int], n_steps: int, what: str) -> tuple[int, ...]:
    seq = [steps] if isinstance(steps, int | np.integer) else list(steps)
    if not seq or not all(isinstance(s, int | np.integer) and -n_steps <= s < n_steps for s in seq):
        raise ValueError(
            f"{what}: got {steps!r}, expected non-empty ints in [-{n_steps}, {n_steps})"
        )
    return tuple(int(s) % n_steps for s in seq)


def _names(names: str | Sequence[str], available: Sequence[str], what: str) -> tuple[str, ...]:
    seq = (names,) if isinstance(names, str) else tuple(names)
    if not seq or any(n not in available for n in seq):
        raise ValueError(
            f"{what}: got {names!r}, expected names from the file's {tuple(available)}"
        )
    return seq


def _take(ds: h5py.Dataset, row: int, steps: tuple[int, ...]) -> np.ndarray:
    """``ds[row, steps]`` reading each distinct step once (h5py wants increasing indices)."""
    if ds.shape[1] == 1:  # time-broadcast boundary values
        return np.repeat(ds[row, 0:1], len(steps), axis=0)
    unique, inverse = np.unique(np.asarray(steps), return_inverse=True)
    block = (
        ds[row, int(unique[0]) : int(unique[0]) + 1] if len(unique) == 1 else ds[row, list(unique)]
    )
    return block[inverse.reshape(-1)]


def _time_last(a: np.ndarray) -> np.ndarray:
    """``(T, *rest)`` -> ``(*rest)`` if T == 1 else ``(*rest, T)``."""
    return a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)


class H5FieldDataset(_LazyH5):
    """Trajectory i -> ``{"x", "y", "bc", "params", "index"[, "mass_rhs"]}`` (module docstring).

    ``input_fields``/``target_fields``: field names (channels, in order); ``input_steps``/
    ``target_steps``: time-step indices (negative counts from the end). ``.metadata`` is a
    :class:`FieldViewMetadata`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        input_fields: str | Sequence[str] = ("u",),
        target_fields: str | Sequence[str] = ("u",),
        input_steps: int | Sequence[int] = (0,),
        target_steps: int | Sequence[int] = (-1,),
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__(path, dtype)
        sk = self._skeleton()
        available = tuple(sk.fields)
        self.input_fields = _names(input_fields, available, "input_fields")
        self.target_fields = _names(target_fields, available, "target_fields")
        self.input_steps = _steps(input_steps, sk.n_steps, "input_steps")
        self.target_steps = _steps(target_steps, sk.n_steps, "target_steps")
        self._grid = sk.grid_shape
        self._axes = tuple(sk.coords)
        self._faces = tuple((b.face, b.axis) for b in sk.boundary if b.values is not None)
        self._mass_rhs = None if sk.conserved is None else sk.conserved.mass_rhs
        self.metadata = FieldViewMetadata(
            schema=sk.schema,
            coords=sk.coords,
            input_steps=self.input_steps,
            target_steps=self.target_steps,
            input_time=sk.time[..., list(self.input_steps)],
            target_time=sk.time[..., list(self.target_steps)],
            bc_kinds={b.face: b.kind for b in sk.boundary},
        )

    def _fields(
        self, f: h5py.File, names: tuple[str, ...], i: int, steps: tuple[int, ...]
    ) -> torch.Tensor:
        stacked = np.stack([_take(f["t0_fields"][n], i, steps) for n in names], axis=1)
        return self._tensor(_time_last(stacked))  # (T, C, *grid) -> (C, *grid[, T])

    def _tensor(self, a: np.ndarray) -> torch.Tensor:
        if not (a.flags.writeable and a.flags.c_contiguous):  # broadcast views are read-only
            a = np.array(a, order="C")
        return torch.from_numpy(a).to(self.dtype)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = self._index(index)
        try:
            return self._item(i)
        except OSError as err:
            raise ValueError(
                f"{self.path}: trajectory {i} cannot be read (failed checksum or damaged): {err}"
            ) from None

    def _item(self, i: int) -> dict[str, Any]:
        f = self._h5()
        item: dict[str, Any] = {
            "x": self._fields(f, self.input_fields, i, self.input_steps),
            "y": self._fields(f, self.target_fields, i, self.target_steps),
        }
        grid = self._grid
        bc = {}
        for name, axis in self._faces:
            ds = f["boundary_conditions"][name]["values"]
            k = self._axes.index(axis)
            face = grid[:k] + grid[k + 1 :]
            v = _take(ds, i if ds.shape[0] > 1 else 0, self.target_steps)  # (T, *face|1)
            bc[name] = self._tensor(_time_last(np.broadcast_to(v, (v.shape[0], *face))))
        item["bc"] = bc
        item["params"] = self._params(i)
        if self._mass_rhs is not None:
            rhs = self._mass_rhs[i, list(self.target_steps)]
            item["mass_rhs"] = self._tensor(_time_last(rhs))
        item["index"] = i
        return item


class H5PointDataset(_LazyH5):
    """Trajectory i -> ``{"context_x": (n_ctx, d), "context_y": (n_ctx, 1), "target_x":
    (n_tgt, d), "target_y": (n_tgt, 1), "params", "index"}`` from the file's ``points/``."""

    _KEYS = (
        ("context_x", "context_inputs"),
        ("context_y", "context_values"),
        ("target_x", "target_inputs"),
        ("target_y", "target_values"),
    )

    def __init__(self, path: str | os.PathLike[str], dtype: torch.dtype = torch.float32) -> None:
        super().__init__(path, dtype)
        sk = self._skeleton()
        if sk.points is None:
            raise ValueError(f"{self.path}: has no points/ group; H5PointDataset needs point sets")
        self.metadata = PointViewMetadata(sk.schema, sk.points.shape)

    def __getitem__(self, index: int) -> dict[str, Any]:
        i = self._index(index)
        g = self._h5()["points"]
        try:
            item: dict[str, Any] = {
                key: torch.from_numpy(np.ascontiguousarray(g[name][i])).to(self.dtype)
                for key, name in self._KEYS
            }
        except OSError as err:
            raise ValueError(
                f"{self.path}: trajectory {i} cannot be read (failed checksum or damaged): {err}"
            ) from None
        item["params"] = self._params(i)
        item["index"] = i
        return item
