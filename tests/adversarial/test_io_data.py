"""Adversarial inputs to the dataset store and its caches (#17): each names the file and fails
with ``ValueError`` instead of reading silently wrong, linked or unbounded data."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from pcml.data import PDEData, cached_dataset, read_dataset, read_schema, write_dataset


def _data() -> PDEData:
    u = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4)
    return PDEData("d", {"u": u}, np.linspace(0, 1, 3), {"x": np.linspace(0, 1, 4)})


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "good.h5", _data())


def _flip_chunk(path: Path, name: str) -> None:
    with h5py.File(path, "r") as f:  # contiguous (older files) or chunked
        d = f[name]
        offset = int(d.id.get_offset() if d.chunks is None else d.id.get_chunk_info(0).byte_offset)
    blob = bytearray(path.read_bytes())
    blob[offset + 2] ^= 0x01
    path.write_bytes(bytes(blob))


def test_one_bit_flip_in_a_field_raises_value_error_naming_file_and_dataset(good: Path) -> None:
    _flip_chunk(good, "t0_fields/u")
    with pytest.raises(ValueError, match=r"good\.h5.*'/t0_fields/u'"):
        read_dataset(good)


def test_one_bit_flip_in_time_raises_value_error(good: Path) -> None:
    _flip_chunk(good, "dimensions/time")
    with pytest.raises(ValueError, match=r"good\.h5.*'/dimensions/time'"):
        read_schema(good)  # small arrays are verified even by the metadata readers


def test_truncated_cache_is_regenerated_not_reused(good: Path) -> None:
    good.write_bytes(good.read_bytes()[:-64])
    logs: list[str] = []
    cached_dataset(good, _data, logs.append)
    assert len(logs) == 1 and "good.h5" in logs[0]
    assert np.array_equal(read_dataset(good).fields["u"], _data().fields["u"])


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (
            lambda f, other: f.__setitem__("ext", h5py.ExternalLink(str(other), "/")),
            "an external link",
        ),
        (lambda f, other: f.__setitem__("soft", h5py.SoftLink("/t0_fields")), "a soft link"),
        (
            lambda f, other: f["t0_fields"].__setitem__(
                "w", h5py.ExternalLink(str(other), "/t0_fields/u")
            ),
            "an external link",
        ),
    ],
)
def test_links_are_refused_naming_file_and_link(
    good: Path, tmp_path: Path, make: object, what: str
) -> None:
    other = write_dataset(tmp_path / "other.h5", _data())
    with h5py.File(good, "r+") as f:
        make(f, other)  # type: ignore[operator]
    for reader in (read_dataset, read_schema):
        with pytest.raises(ValueError, match=rf"good\.h5.*is {what}"):
            reader(good)


def test_virtual_dataset_is_refused(good: Path, tmp_path: Path) -> None:
    other = write_dataset(tmp_path / "other.h5", _data())
    layout = h5py.VirtualLayout(shape=(2, 3, 4), dtype="f8")
    layout[:] = h5py.VirtualSource(str(other), "t0_fields/u", shape=(2, 3, 4))
    with h5py.File(good, "r+") as f:
        f.create_virtual_dataset("virt", layout)
    with pytest.raises(ValueError, match=r"good\.h5.*'/virt' is a virtual dataset"):
        read_schema(good)


def test_external_storage_is_refused(good: Path, tmp_path: Path) -> None:
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.zeros(8).tobytes())
    with h5py.File(good, "r+") as f:
        f.create_dataset("ext", shape=(8,), dtype="f8", external=[(str(raw), 0, 64)])
    with pytest.raises(ValueError, match=r"good\.h5.*'/ext' stores its data in external files"):
        read_schema(good)


def test_cached_probconserv_data_with_a_flipped_byte_is_regenerated(tmp_path: Path) -> None:
    from pcml.experiments.probconserv import prepare_data
    from pcml.experiments.probconserv_config import make_config

    cfg = make_config("diffusion", "smoke")
    logs: list[str] = []
    paths = prepare_data(cfg, tmp_path, logs.append)
    clean = read_dataset(paths["train"])
    _flip_chunk(paths["train"], "points/context_values")
    with pytest.raises(ValueError, match=r"train\.h5"):
        read_dataset(paths["train"])
    assert prepare_data(cfg, tmp_path, logs.append) == paths
    assert len(logs) == 1 and "train.h5" in logs[0] and "checksum" in logs[0]
    again = read_dataset(paths["train"])
    assert clean.points is not None and again.points is not None
    assert np.array_equal(clean.points.context_values, again.points.context_values)


def test_cached_dataset_whose_rebuild_is_not_pdedata_fails_clearly(good: Path) -> None:
    _flip_chunk(good, "t0_fields/u")
    with pytest.raises(ValueError, match="expected PDEData"):
        cached_dataset(good, lambda: {"u": 1})  # type: ignore[arg-type, return-value]


def test_small_file_declaring_a_huge_grid_is_refused_without_allocating_it(good: Path) -> None:
    with h5py.File(good, "r+") as f:
        del f["dimensions/x"]
        f["dimensions"].create_dataset("x", shape=(2**27,), dtype="f8", chunks=(2**16,))
    assert good.stat().st_size < 1 << 20  # declared 1 GiB, never written
    with pytest.raises(ValueError, match=r"good\.h5.*'/dimensions/x' declares 1073741824 bytes"):
        read_schema(good)


def test_flipped_point_chunk_fails_the_lazy_point_view(tmp_path: Path) -> None:
    from pcml.data import H5PointDataset, PointData

    pts = PointData(*(np.ones((2, n, d)) for n, d in ((3, 2), (3, 1), (4, 2), (4, 1))))
    data = PDEData("p", {}, np.linspace(0, 1, 2), {}, params={"a": np.ones(2)}, points=pts)
    path = write_dataset(tmp_path / "pts.h5", data)
    _flip_chunk(path, "points/target_inputs")
    view = H5PointDataset(path)  # metadata is intact
    with pytest.raises(ValueError, match=r"pts\.h5: trajectory 0 cannot be read"):
        view[0]
    view.close()


def test_boon_run_regenerates_a_corrupted_cache_and_reproduces_its_metrics(
    tmp_path: Path,
) -> None:
    from pcml.experiments.boon.config import make_config
    from pcml.experiments.boon.runner import run

    cfg = make_config("heat-neumann", "smoke", False, None, ["train.epochs=1"])
    logs: list[str] = []
    first = run(cfg, tmp_path, progress=False, figures=False, log=logs.append)
    (cache,) = (tmp_path / "data").glob("*/data.h5")
    _flip_chunk(cache, "t0_fields/u")
    logs.clear()
    again = run(cfg, tmp_path, progress=False, figures=False, log=logs.append)
    assert any("regenerating data.h5" in line and "checksum" in line for line in logs), logs
    assert again == first


def test_boon2d_cache_with_a_flipped_byte_is_regenerated(tmp_path: Path) -> None:
    from pcml.experiments.boon.cases import get_case
    from pcml.experiments.boon.config import default_config
    from pcml.experiments.boon.layouts import Layout2D

    cfg = default_config("wave2d", "smoke", True)
    case = get_case("wave2d")
    logs: list[str] = []
    first = Layout2D().load(cfg, case, tmp_path, logs.append).extra["raw_test"]
    (path,) = (tmp_path / "data").glob("*/test.h5")
    _flip_chunk(path, "t0_fields/u")
    logs.clear()
    again = Layout2D().load(cfg, case, tmp_path, logs.append).extra["raw_test"]
    assert any("regenerating" in line and "test.h5" in line for line in logs), logs
    assert np.array_equal(again.fields["u"], first.fields["u"])
    assert np.array_equal(read_dataset(path).fields["u"], first.fields["u"])
