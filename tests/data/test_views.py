"""pcml.data views: items are the right slices (time last), lazy per-process h5py, DataLoader."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pcml.data import (
    BoundaryData,
    ConservedData,
    H5FieldDataset,
    H5PointDataset,
    PDEData,
    PointData,
    write_dataset,
)

N_TRAJ, N_STEPS, NX = 5, 6, 7


def _same(actual: torch.Tensor, expected: torch.Tensor) -> None:
    """Exact equality, dtype and shape included (torch.testing's first call costs seconds)."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    assert torch.equal(actual, expected)


def _t(a: np.ndarray) -> torch.Tensor:
    """The expected tensor: the numpy reference converted to float32 once."""
    return torch.from_numpy(np.ascontiguousarray(a)).to(torch.float32)


@pytest.fixture(scope="module")
def data1d() -> PDEData:
    rng = np.random.default_rng(3)
    u = rng.standard_normal((N_TRAJ, N_STEPS, NX)).astype(np.float32)
    return PDEData(
        name="heat",
        fields={"u": u, "v": rng.standard_normal((N_TRAJ, N_STEPS, NX))},
        time=np.linspace(0.0, 0.5, N_STEPS),
        coords={"x": np.linspace(0.0, 1.0, NX)},
        params={"nu": rng.random(N_TRAJ), "k": np.arange(N_TRAJ)},
        boundary=(
            BoundaryData("x", "lower", "dirichlet", u[:, :, 0]),
            BoundaryData("x", "upper", "neumann", np.full((1, 1), 0.25)),
        ),
        conserved=ConservedData(u.astype(np.float64).sum(-1) / NX),
        points=PointData(
            *(rng.random((N_TRAJ, n, d)) for n, d in ((3, 2), (3, 1), (4, 2), (4, 1)))
        ),
        seed=3,
    )


@pytest.fixture(scope="module")
def path1d(tmp_path_factory: pytest.TempPathFactory, data1d: PDEData) -> Path:
    return write_dataset(tmp_path_factory.mktemp("views") / "heat.h5", data1d)


def test_single_step_items(path1d: Path, data1d: PDEData) -> None:
    ds = H5FieldDataset(path1d)
    assert len(ds) == N_TRAJ
    u, g = data1d.fields["u"], data1d.boundary[0].values
    assert data1d.conserved is not None and g is not None
    for i in (0, 3, -1):
        j = i % N_TRAJ
        item = ds[i]
        assert item["index"] == j
        assert item["x"].shape == (1, NX) and item["x"].dtype == torch.float32
        _same(item["x"], _t(u[j, :1]))
        _same(item["y"], _t(u[j, -1:]))
        assert set(item["bc"]) == {"x_lower", "x_upper"}
        assert item["bc"]["x_lower"].shape == () and item["bc"]["x_lower"] == _t(g[j, -1])
        assert item["bc"]["x_upper"] == 0.25
        assert item["params"]["nu"] == _t(data1d.params["nu"][j])
        assert item["params"]["k"].dtype == torch.int64 and item["params"]["k"] == j
        assert item["mass_rhs"] == _t(data1d.conserved.mass_rhs[j, -1])
    with pytest.raises(IndexError):
        ds[N_TRAJ]


def test_several_steps_put_time_last(path1d: Path, data1d: PDEData) -> None:
    steps_in, steps_out = [0, 2, 1], [-1, 3, 3]
    ds = H5FieldDataset(path1d, ("u", "v"), "v", steps_in, steps_out, dtype=torch.float64)
    item = ds[2]
    u, v = data1d.fields["u"][2], data1d.fields["v"][2]
    expected_x = np.stack([u[steps_in], v[steps_in]]).transpose(0, 2, 1)  # (C, x, t)
    assert item["x"].shape == (2, NX, 3) and item["x"].dtype == torch.float64
    np.testing.assert_array_equal(item["x"].numpy(), expected_x)
    np.testing.assert_array_equal(item["y"].numpy(), v[[5, 3, 3]].T[None])
    g = data1d.boundary[0].values
    assert g is not None
    np.testing.assert_array_equal(item["bc"]["x_lower"].numpy(), g[2, [5, 3, 3]])
    np.testing.assert_array_equal(item["bc"]["x_upper"].numpy(), [0.25] * 3)
    meta = ds.metadata
    assert meta.target_steps == (5, 3, 3) and meta.input_steps == (0, 2, 1)
    np.testing.assert_array_equal(meta.target_time, data1d.time[[5, 3, 3]])
    assert meta.bc_kinds == {"x_lower": "dirichlet", "x_upper": "neumann"}
    assert meta.schema == data1d.schema and list(meta.coords) == ["x"]


def test_two_dimensional_faces(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    u = rng.standard_normal((3, 4, 5, 6)).astype(np.float32)  # (traj, t, x, y)
    data = PDEData(
        "cavity",
        {"u": u},
        time=np.arange(4.0),
        coords={"x": np.linspace(0, 1, 5), "y": np.linspace(0, 2, 6)},
        boundary=(
            BoundaryData("x", "lower", "dirichlet", u[:, :, 0, :]),
            BoundaryData("x", "upper", "neumann", rng.random((1, 4, 1))),
            BoundaryData("y", "lower", "periodic", None),
            BoundaryData("y", "upper", "periodic", None),
        ),
    )
    path = write_dataset(tmp_path / "c.h5", data)
    one = H5FieldDataset(path)[1]
    assert one["x"].shape == (1, 5, 6) and set(one["bc"]) == {"x_lower", "x_upper"}
    np.testing.assert_array_equal(one["bc"]["x_lower"].numpy(), u[1, -1, 0, :])
    upper = data.boundary[1].values
    assert upper is not None
    expected_upper = np.full(6, upper[0, -1, 0], dtype=np.float32)
    np.testing.assert_array_equal(one["bc"]["x_upper"].numpy(), expected_upper)
    many = H5FieldDataset(path, input_steps=[0, 1], target_steps=[2, 3])
    item = many[2]
    assert item["x"].shape == (1, 5, 6, 2) and item["bc"]["x_lower"].shape == (6, 2)
    np.testing.assert_array_equal(item["y"].numpy()[0], u[2, 2:].transpose(1, 2, 0))
    np.testing.assert_array_equal(item["bc"]["x_lower"].numpy(), u[2, 2:, 0, :].T)
    assert many.metadata.bc_kinds["y_upper"] == "periodic"


def test_views_are_lazy_and_read_only_their_slices(
    path1d: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[str, Any]] = []
    original = h5py.Dataset.__getitem__

    def spy(self: h5py.Dataset, args: Any, **kw: Any) -> Any:
        reads.append((self.name, args))
        return original(self, args, **kw)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    ds = H5FieldDataset(path1d, ("u", "v"), ("u",), [0, 1], [-1])
    assert ds._file is None  # no handle held after construction
    assert not [r for r in reads if r[0].startswith(("/t0_fields", "/points"))]
    clone = pickle.loads(pickle.dumps(ds))  # picklable before first access
    assert clone._file is None and len(clone) == N_TRAJ
    reads.clear()
    ds[3]
    handle = ds._file
    assert handle is not None and handle.id.valid
    field_reads = [a for name, a in reads if name.startswith("/t0_fields")]
    assert len(field_reads) == 3  # u (input), v (input), u (target)
    assert all(isinstance(a, tuple) and a[0] == 3 for a in field_reads)  # one trajectory each
    ds[4]
    assert ds._file is handle  # reused within a process
    ds._pid = -1  # as seen from a forked worker: the inherited handle is not reused
    ds[4]
    assert ds._file is not handle and ds._pid is not None and ds._pid > 0
    assert pickle.loads(pickle.dumps(ds))._file is None  # the handle is never pickled
    ds.close()
    assert ds._file is None and torch.equal(ds[3]["x"], clone[3]["x"])


def test_dataloader_with_two_workers(path1d: Path, data1d: PDEData) -> None:
    ds = H5FieldDataset(path1d, target_steps=[1, 2])
    ds[0]  # a handle opened in the parent must not leak into the forked workers
    loader = DataLoader(ds, batch_size=2, num_workers=2, shuffle=False)
    batches = list(loader)
    assert [b["x"].shape[0] for b in batches] == [2, 2, 1]
    x = torch.cat([b["x"] for b in batches])
    y = torch.cat([b["y"] for b in batches])
    _same(x, _t(data1d.fields["u"][:, :1]))
    assert y.shape == (N_TRAJ, 1, NX, 2)
    _same(y[:, 0], _t(data1d.fields["u"][:, 1:3].transpose(0, 2, 1)))
    lower = torch.cat([b["bc"]["x_lower"] for b in batches])
    g = data1d.boundary[0].values
    assert g is not None
    _same(lower, _t(g[:, 1:3]))
    assert torch.equal(torch.cat([b["index"] for b in batches]), torch.arange(N_TRAJ))
    assert torch.cat([b["params"]["nu"] for b in batches]).shape == (N_TRAJ,)


def test_point_view(path1d: Path, data1d: PDEData) -> None:
    ds = H5PointDataset(path1d)
    assert ds._file is None and ds.metadata.points_shape == (3, 4, 2)
    pts = data1d.points
    assert pts is not None
    batch = next(iter(DataLoader(ds, batch_size=N_TRAJ)))
    _same(batch["context_x"], _t(pts.context_inputs))
    _same(batch["context_y"], _t(pts.context_values))
    _same(batch["target_x"], _t(pts.target_inputs))
    _same(batch["target_y"], _t(pts.target_values))
    assert batch["params"]["k"].tolist() == list(range(N_TRAJ))


def test_bad_arguments(path1d: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"input_fields.*'w'"):
        H5FieldDataset(path1d, input_fields=("w",))
    with pytest.raises(ValueError, match="target_steps"):
        H5FieldDataset(path1d, target_steps=[N_STEPS])
    with pytest.raises(ValueError, match="input_steps"):
        H5FieldDataset(path1d, input_steps=[])
    with pytest.raises(ValueError, match="dtype"):
        H5FieldDataset(path1d, dtype=torch.int64)
    no_points = PDEData("p", {"u": np.zeros((1, 1, 2))}, np.zeros(1), {"x": np.arange(2.0)})
    path = write_dataset(tmp_path / "np.h5", no_points)
    with pytest.raises(ValueError, match=r"np\.h5.*no points"):
        H5PointDataset(path)
    (tmp_path / "junk.h5").write_bytes(b"\x89HDF\r\n\x1a\n junk")
    with pytest.raises(ValueError, match=r"junk\.h5"):
        H5FieldDataset(tmp_path / "junk.h5")


def test_pickled_views_stay_small(path1d: Path, data1d: PDEData) -> None:
    """Workers receive metadata, never field values (placeholders must not be pickled)."""
    size = len(pickle.dumps(H5FieldDataset(path1d)))
    big = dict(data1d.fields, u=np.zeros((N_TRAJ, N_STEPS, 4096), dtype=np.float32))
    big_data = PDEData("big", {"u": big["u"]}, data1d.time, {"x": np.arange(4096.0)})
    big_path = write_dataset(path1d.with_name("big.h5"), big_data)
    # the coords (32 kB) travel, the 480 kB of field values do not
    assert size < 20_000 and len(pickle.dumps(H5FieldDataset(big_path))) < big["u"].nbytes / 10
    assert pickle.loads(pickle.dumps(data1d)).identical(data1d)  # containers pickle too
