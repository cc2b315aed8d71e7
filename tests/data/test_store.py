"""pcml.data store: bitwise round trip, Well layout, atomic writes, clear errors on bad files."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcml.data import (
    BoundaryData,
    ConservedData,
    PDEData,
    PointData,
    read_dataset,
    read_schema,
    write_dataset,
)
from pcml.data import store as store_module

_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8", "bool")


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random BIT patterns (NaNs with payloads, infs, -0.0, subnormals included)."""
    if dtype == "bool":
        return rng.integers(0, 2, size=shape).astype(bool)
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    return rng.integers(0, 256, size=n, dtype=np.uint8).view(dt).reshape(shape)


def _example(grid: tuple[int, ...] = (8,), n_traj: int = 3, n_steps: int = 5) -> PDEData:
    rng = np.random.default_rng(0)
    axes = ("x", "y", "z")[: len(grid)]
    u = rng.standard_normal((n_traj, n_steps, *grid)).astype(np.float32)
    boundary = []
    for k, axis in enumerate(axes):
        face = grid[:k] + grid[k + 1 :]
        boundary.append(BoundaryData(axis, "upper", "neumann", np.zeros((1, n_steps, *face)), 2))
        boundary.append(BoundaryData(axis, "lower", "dirichlet", np.take(u, 0, axis=2 + k)))
    return PDEData(
        name="heat_test",
        fields={"u": u, "v": (2 * u).astype(np.float64)},
        time=np.linspace(0.0, 1.0, n_steps),
        coords={a: np.linspace(0.0, 1.0, n) for a, n in zip(axes, grid, strict=True)},
        params={"nu": rng.random(n_traj), "k": np.arange(n_traj, dtype=np.int64)},
        constants={"order": 4, "length": 1.0, "scheme": "ETDRK4 ∂u", "flag": True},
        boundary=tuple(boundary),
        conserved=ConservedData(
            u.sum(axis=tuple(range(2, 2 + len(grid)))), domain=(0.0, 1.0) * len(grid)
        ),
        points=PointData(
            rng.random((n_traj, 4, 2)),
            rng.random((n_traj, 4, 1)),
            rng.random((n_traj, 6, 2)),
            rng.random((n_traj, 6, 1)),
        ),
        generator="pcml.pdes.heat_neumann.generate",
        generator_version="1.0",
        seed=1234,
    )


@pytest.mark.parametrize("grid", [(8,), (5, 4)])
def test_round_trip_is_bitwise_and_exact(tmp_path: Path, grid: tuple[int, ...]) -> None:
    data = _example(grid)
    path = write_dataset(tmp_path / "d.h5", data)
    back = read_dataset(path, expect=data.schema)
    assert back.identical(data)
    assert back.schema == data.schema == read_schema(path)
    assert [type(v) for v in back.constants.values()] == [int, float, str, bool]
    assert back.boundary[0].face == "x_lower"  # canonical order, whatever order was given
    assert back.boundary[1].stencil_order == 2 and back.boundary[0].stencil_order is None
    assert back.seed == 1234 and back.conserved is not None
    assert back.conserved.domain == (0.0, 1.0) * len(grid)
    assert back.fields["u"].dtype == np.float32 and back.fields["v"].dtype == np.float64
    # the comparison itself can fail: one flipped bit is detected
    flipped = back.fields["u"].copy()
    flipped.view(np.uint32)[0, 0, 0] ^= 1
    assert not dataclasses.replace(back, fields={**back.fields, "u": flipped}).identical(data)


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
_constant = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    _text,
)


@settings(max_examples=20)  # each example writes and reads a file (~0.1 s on a shared CPU)
@given(
    n_dims=st.integers(1, 2),
    sizes=st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 4)),
    dtype=st.sampled_from(_DTYPES),
    time_per_traj=st.booleans(),
    broadcast=st.tuples(st.booleans(), st.booleans(), st.booleans()),
    constants=st.dictionaries(st.sampled_from(["a", "b_1", "Re", "nu0"]), _constant),
    name=_text.filter(bool),
    seed=st.one_of(st.none(), st.integers(0, 2**63 - 1)),
    bits_seed=st.integers(0, 2**32 - 1),
)
def test_round_trip_random_shapes_dtypes_and_bits(
    n_dims: int,
    sizes: tuple[int, int, int, int],
    dtype: str,
    time_per_traj: bool,
    broadcast: tuple[bool, bool, bool],
    constants: dict[str, Any],
    name: str,
    seed: int | None,
    bits_seed: int,
) -> None:
    rng = np.random.default_rng(bits_seed)
    n_traj, n_steps, *rest = sizes
    grid = tuple(rest[:n_dims])
    axes = ("x", "y")[:n_dims]
    full_face = (n_traj, n_steps, *grid[1:])
    face = tuple(1 if b else s for b, s in zip(broadcast, full_face, strict=False))
    face = face + full_face[len(face) :]
    time = np.cumsum(rng.random((n_traj, n_steps) if time_per_traj else n_steps) + 0.1, axis=-1)
    boundary = [BoundaryData("x", "lower", "dirichlet", _random(rng, face, dtype))]
    if n_dims == 2:
        boundary += [BoundaryData("y", s, "periodic", None) for s in ("upper", "lower")]
    data = PDEData(
        name=name,
        fields={"u": _random(rng, (n_traj, n_steps, *grid), dtype)},
        time=time.astype(np.float32 if dtype == "float32" else np.float64),
        coords={a: np.cumsum(rng.random(n) + 0.5) for a, n in zip(axes, grid, strict=True)},
        params={"p": _random(rng, (n_traj,), dtype)},
        constants=constants,
        boundary=tuple(boundary),
        conserved=ConservedData(
            _random(rng, (n_traj, n_steps), dtype), domain=(0.0, 2.0) * n_dims, rule="simpson"
        ),
        generator=name,
        seed=seed,
    )
    with tempfile.TemporaryDirectory() as tmp:
        back = read_dataset(write_dataset(Path(tmp) / "r.h5", data), expect=data.schema)
    assert back.identical(data)


def test_points_only_dataset_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    pts = PointData(*(rng.random((2, 3, d)) for d in (2, 1, 2, 1)))
    data = PDEData("anp", fields={}, time=np.array([0.0, 0.5]), coords={}, points=pts)
    back = read_dataset(write_dataset(tmp_path / "p.h5", data))
    assert back.identical(data) and back.n_traj == 2 and back.schema.points_shape == (3, 3, 2)


def test_layout_follows_the_well(tmp_path: Path) -> None:
    data = _example((5, 4))
    with h5py.File(write_dataset(tmp_path / "w.h5", data), "r") as f:
        a = f.attrs
        assert a["dataset_name"] == "heat_test" and a["grid_type"] == "cartesian"
        assert a["n_spatial_dims"] == 2 and a["n_trajectories"] == 3
        assert list(a["simulation_parameters"]) == ["nu", "k", "order", "length", "scheme", "flag"]
        assert a["order"] == 4 and a["scheme"] == "ETDRK4 ∂u" and a["seed"] == 1234
        assert a["generator"] == "pcml.pdes.heat_neumann.generate" and "pcml_version" in a
        assert list(f["dimensions"].attrs["spatial_dims"]) == ["x", "y"]
        assert f["dimensions/time"].shape == (5,) and f["dimensions/y"].shape == (4,)
        assert list(f["t0_fields"].attrs["field_names"]) == ["u", "v"]
        assert f["t0_fields/u"].shape == (3, 5, 5, 4) and f["t0_fields/u"].dtype == np.float32
        assert f["scalars/nu"].shape == (3,) and "t1_fields" in f
        h = f["boundary_conditions/y_upper"]
        assert h.attrs["bc_type"] == "WALL" and h.attrs["bc_kind"] == "neumann"
        assert list(h.attrs["associated_dims"]) == ["y"] and not h.attrs["sample_varying"]
        np.testing.assert_array_equal(h["mask"][()], [False, False, False, True])
        assert h["values"].shape == (1, 5, 5) and h.attrs["stencil_order"] == 2
        assert f["conserved/mass_rhs"].shape == (3, 5)
        assert f["conserved"].attrs["derivation"] == "closed_form"
        assert f["points/target_values"].shape == (3, 6, 1)
        kinds: list[str] = []
        f.visititems(
            lambda _, o: kinds.append(o.dtype.kind) if isinstance(o, h5py.Dataset) else None
        )
        assert set(kinds) <= set("biuf")  # numbers only, nothing pickled (no opaque/void data)


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any) -> None:
        raise RuntimeError("disk on fire")

    target = tmp_path / "d.h5"
    monkeypatch.setattr(store_module, "_write_conserved", boom)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_dataset(target, _example())
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    old = write_dataset(target, _example(n_traj=2)).read_bytes()
    monkeypatch.setattr(store_module, "_write_points", boom)
    with pytest.raises(RuntimeError):
        write_dataset(target, _example(n_traj=3))
    assert os.listdir(tmp_path) == ["d.h5"] and target.read_bytes() == old
    monkeypatch.undo()
    write_dataset(target, _example(n_traj=3))  # a finished write replaces the old file
    assert read_dataset(target).n_traj == 3 and os.listdir(tmp_path) == ["d.h5"]


@pytest.fixture
def good(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "good.h5", _example())


def test_non_hdf5_and_truncated_files_raise_value_error(good: Path, tmp_path: Path) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5\n")
    with pytest.raises(ValueError, match=r"notes\.h5.*not a readable HDF5"):
        read_dataset(text)
    blob = good.read_bytes()
    for frac in (0.1, 0.5, 0.95):
        cut = tmp_path / f"cut{frac}.h5"
        cut.write_bytes(blob[: int(len(blob) * frac)])
        with pytest.raises(ValueError, match=rf"cut{frac}\.h5"):
            read_dataset(cut)
    with pytest.raises(FileNotFoundError, match="missing"):
        read_dataset(tmp_path / "missing.h5")


def _edit(path: Path, fn: Any) -> Path:
    with h5py.File(path, "r+") as f:
        fn(f)
    return path


def _replace(f: h5py.File, name: str, value: np.ndarray) -> None:
    del f[name]
    f[name] = value


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: f.__delitem__("dimensions"), "missing required group 'dimensions/'"),
        (lambda f: f.__delitem__("t0_fields/u"), "missing required dataset '/t0_fields/u'"),
        (lambda f: f.attrs.__delitem__("seed"), "missing required attribute 'seed'"),
        (lambda f: f.attrs.__setitem__("n_trajectories", 7), "n_trajectories does not match"),
        (lambda f: f.attrs.__setitem__("n_spatial_dims", "1"), "'n_spatial_dims'.*expected int"),
        (lambda f: f.attrs.__setitem__("pcml_format_version", 99), "pcml_format_version 99"),
        (lambda f: _replace(f, "scalars/nu", np.zeros(4)), r"params\['nu'\].*\(4,\)"),
        (lambda f: _replace(f, "t0_fields/v", np.zeros((3, 5, 7))), r"fields\['v'\].*\(3, 5, 7\)"),
        (lambda f: _replace(f, "dimensions/time", np.zeros(5)), "time.*increasing"),
        (lambda f: _replace(f, "conserved/mass_rhs", np.zeros((3, 4))), "mass_rhs"),
        (
            lambda f: _replace(f, "boundary_conditions/x_lower/values", np.zeros((2, 5))),
            r"x_lower.*\(2, 5\)",
        ),
        (
            lambda f: f["boundary_conditions/x_upper"].attrs.__setitem__("bc_type", "PERIODIC"),
            "bc_type",
        ),
        (lambda f: f.__delitem__("boundary_conditions/x_lower/mask"), "x_lower/mask"),
        (lambda f: f.create_group("boundary_conditions/w_lower"), "w_lower"),
        (lambda f: _replace(f, "points/target_values", np.zeros((3, 6, 2))), "target_values"),
    ],
)
def test_damaged_files_raise_value_error_naming_file_and_problem(
    good: Path, edit: Any, message: str
) -> None:
    _edit(good, edit)
    with pytest.raises(ValueError, match=rf"good\.h5.*{message}"):
        read_dataset(good)


def test_expected_schema_is_enforced(good: Path) -> None:
    schema = _example().schema
    assert read_dataset(good, expect=schema).n_traj == 3
    with pytest.raises(ValueError, match=r"good\.h5.*field_names: expected \('w',\)"):
        read_dataset(good, expect=dataclasses.replace(schema, field_names=("w",)))
    other = dataclasses.replace(schema, n_traj=10)
    with pytest.raises(ValueError, match="n_traj: expected 10, got 3"):
        read_dataset(good, expect=other)
    assert read_dataset(good, expect=other, ignore=("n_traj",)).n_traj == 3
    with pytest.raises(ValueError, match="ignore"):
        read_dataset(good, expect=other, ignore=("n_trajectories",))


def _kwargs(**over: Any) -> dict[str, Any]:
    u = np.zeros((2, 3, 4), dtype=np.float32)
    kw: dict[str, Any] = {
        "name": "d",
        "fields": {"u": u},
        "time": np.linspace(0, 1, 3),
        "coords": {"x": np.linspace(0, 1, 4)},
    }
    return {**kw, **over}


def _bc(kind: str, values: Any = None, side: str = "lower", **kw: Any) -> BoundaryData:
    return BoundaryData("x", side, kind, values, **kw)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"name": ""}, "PDEData.name"),
        ({"name": "a\x00b"}, "NUL"),
        ({"fields": {"u/v": np.zeros((2, 3, 4))}}, "PDEData.fields key"),
        ({"fields": {"u": np.zeros((2, 3, 5))}}, r"fields\['u'\].*\(2, 3, 5\).*\(2, 3, 4\)"),
        ({"fields": {"u": np.zeros((2, 3, 4)), "v": np.zeros((3, 3, 4))}}, r"fields\['v'\]"),
        ({"fields": {"u": np.zeros((2, 3, 4), dtype=complex)}}, "dtype complex128"),
        ({"fields": {"u": np.zeros((2, 3, 4), dtype=">f4")}}, "little-endian"),
        ({"time": np.array([0.0, 0.5, 0.5])}, "time.*strictly increasing"),
        ({"time": np.array([0.0, np.nan, 1.0])}, "time.*NaN"),
        ({"time": np.tile(np.arange(3.0), (3, 1))}, r"PDEData.time.*\(3, 3\)"),
        ({"coords": {"q": np.linspace(0, 1, 4)}}, "axis 'q'"),
        ({"coords": {"x": np.linspace(1, 0, 4)}}, "coords.*increasing"),
        ({"params": {"m": np.zeros(3)}}, r"params\['m'\].*\(2,\)"),
        ({"constants": {"seed": 1}}, "reserved"),
        ({"constants": {"c": [1, 2]}}, "bool/int/float/str"),
        ({"constants": {"c": 2**70}}, "int64"),
        ({"seed": -1}, "PDEData.seed"),
        ({"seed": 1.5}, "PDEData.seed"),
        ({"boundary": (_bc("dirichlet", np.zeros((2, 2))),)}, r"x_lower.*\(2, 2\).*\(2, 3\)"),
        ({"boundary": (_bc("dirichlet", np.zeros((2, 3, 1))),)}, r"x_lower.*\(2, 3, 1\)"),
        ({"boundary": (_bc("periodic"),)}, "periodic faces come in pairs"),
        ({"boundary": (_bc("periodic"), _bc("dirichlet", np.zeros((1, 1)), "upper"))}, "pairs"),
        ({"boundary": (_bc("neumann", np.zeros((1, 1))),) * 2}, "given twice"),
        ({"boundary": (BoundaryData("y", "lower", "periodic", None),)}, "axis 'y'"),
        ({"conserved": ConservedData(np.zeros((2, 4)))}, r"mass_rhs.*\(2, 4\)"),
        ({"conserved": ConservedData(np.zeros((2, 3)), domain=(0, 1, 0, 1))}, "2 bounds"),
        ({"points": PointData(*(np.zeros((3, 2, d)) for d in (1, 1, 1, 1)))}, "points"),
        ({"fields": {}}, "cannot tell n_traj"),
    ],
)
def test_inconsistent_pdedata_raises_value_error_naming_argument(
    over: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PDEData(**_kwargs(**over))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _bc("dirichlet"), "required for dirichlet"),
        (lambda: _bc("periodic", np.zeros((1, 1))), "must be None for periodic"),
        (lambda: _bc("robin", np.zeros((1, 1))), "BoundaryData.kind"),
        (lambda: BoundaryData("x", "left", "periodic", None), "BoundaryData.side"),
        (lambda: _bc("dirichlet", np.zeros(3)), r"values.*\(3,\)"),
        (lambda: _bc("dirichlet", np.zeros((1, 1)), stencil_order=2), "stencil_order"),
        (lambda: _bc("neumann", np.zeros((1, 1)), stencil_order=0), "stencil_order"),
        (lambda: ConservedData(np.zeros(3)), "mass_rhs"),
        (lambda: ConservedData(np.zeros((1, 1)), domain=(1.0, 0.0)), "domain"),
        (lambda: ConservedData(np.zeros((1, 1)), derivation="guess"), "derivation"),
        (lambda: ConservedData(np.zeros((1, 1)), rule=""), "rule"),
        (lambda: PointData(*(np.zeros((1, 2, d)) for d in (2, 2, 2, 1))), "context_values"),
        (lambda: PointData(*(np.zeros((1, 2, d)) for d in (2, 1, 3, 1))), "target_inputs"),
    ],
)
def test_invalid_parts_raise_value_error(make: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_write_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="expected PDEData"):
        write_dataset(tmp_path / "a.h5", {"u": np.zeros(3)})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="does not exist"):
        write_dataset(tmp_path / "no" / "a.h5", PDEData(**_kwargs()))


# ----------------------------------------------------------------------------- integrity (#17)
def _same(a: PDEData, b: PDEData) -> bool:
    """Equal schema, metadata and every array bit for bit."""
    if a.schema != b.schema or dict(a.constants) != dict(b.constants) or a.seed != b.seed:
        return False
    pairs = [(a.time, b.time), *zip(a.coords.values(), b.coords.values(), strict=True)]
    pairs += [(a.fields[k], b.fields[k]) for k in a.fields]
    pairs += [(a.params[k], b.params[k]) for k in a.params]
    pairs += [(x.values, y.values) for x, y in zip(a.boundary, b.boundary, strict=True)]
    if a.conserved is not None and b.conserved is not None:
        pairs.append((a.conserved.mass_rhs, b.conserved.mass_rhs))
    if a.points is not None and b.points is not None:
        pairs += [(getattr(a.points, n), getattr(b.points, n)) for n in store_module._POINTS]
    return all(
        (x is None and y is None)
        or (x is not None and y is not None and x.dtype == y.dtype and x.tobytes() == y.tobytes())
        for x, y in pairs
    )


def _flip(path: Path, offset: int, mask: int = 0x10) -> Path:
    blob = bytearray(path.read_bytes())
    blob[offset] ^= mask
    path.write_bytes(bytes(blob))
    return path


def _chunk_offset(path: Path, name: str) -> int:
    with h5py.File(path, "r") as f:
        return int(f[name].id.get_chunk_info(0).byte_offset)


def test_every_dataset_has_fletcher32_and_a_content_hash(good: Path) -> None:
    with h5py.File(good, "r") as f:
        assert f.attrs["pcml_format_version"] == 2 and len(f.attrs["pcml_sha256"]) == 64
        datasets: list[h5py.Dataset] = []
        f.visititems(lambda _, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None)
        assert len(datasets) > 10
        for d in datasets:
            assert d.fletcher32 and len(d.attrs["pcml_sha256"]) == 64, d.name


def test_any_flipped_byte_is_detected_or_harmless(good: Path, tmp_path: Path) -> None:
    """Over ~150 positions spread over the file: ValueError naming the file, or the exact data."""
    ref = read_dataset(good)
    blob = good.read_bytes()
    rng = np.random.default_rng(17)
    detected = 0
    for offset in sorted(rng.choice(len(blob), size=150, replace=False)):
        bad = tmp_path / "flip.h5"
        bad.write_bytes(blob)
        _flip(bad, int(offset))
        try:
            back = read_dataset(bad)
        except ValueError as err:
            assert "flip.h5" in str(err)
            detected += 1
        else:
            assert _same(back, ref), f"flip at byte {offset} changed the data silently"
    assert detected > 50  # most of the file is metadata or data, not padding


@pytest.mark.parametrize("name", ["t0_fields/u", "t0_fields/v", "scalars/nu", "dimensions/x"])
def test_flipped_data_byte_is_detected_by_every_reader(good: Path, name: str) -> None:
    _flip(good, _chunk_offset(good, name) + 3)
    with pytest.raises(ValueError, match=rf"good\.h5.*'/{name}'.*(Fletcher32|checksum)"):
        read_dataset(good)
    with pytest.raises(ValueError, match=r"good\.h5"):
        store_module.verify_dataset(good)
    if name.startswith("t0_fields"):  # lazy views: the chunk's Fletcher32 is checked on read
        from pcml.data import H5FieldDataset

        view = H5FieldDataset(good, input_fields="u", target_fields=name.split("/")[1])
        with pytest.raises(ValueError, match=r"good\.h5: trajectory 0 cannot be read"):
            view[0]
        view.close()


def test_edited_values_with_valid_fletcher32_fail_the_content_hash(good: Path) -> None:
    """A rewrite by another tool (valid HDF5 checksums, same structure) fails pcml's hash."""
    with h5py.File(good, "r+") as f:
        f["t0_fields/u"][0, 0, 0] = 123.0
    with pytest.raises(ValueError, match=r"good\.h5.*checksum mismatch in dataset '/t0_fields/u'"):
        read_dataset(good)
    _edit(good, lambda f: f.attrs.__setitem__("dataset_name", "other"))
    with pytest.raises(ValueError, match=r"good\.h5.*metadata checksum mismatch"):
        read_schema(good)


def test_truncated_file_fails_verification(good: Path) -> None:
    blob = good.read_bytes()
    good.write_bytes(blob[: len(blob) - 100])
    with pytest.raises(ValueError, match=r"good\.h5"):
        store_module.verify_dataset(good)


def _as_format_1(path: Path) -> Path:
    def strip(f: h5py.File) -> None:
        f.attrs["pcml_format_version"] = np.int64(1)
        del f.attrs["pcml_sha256"]
        f.visititems(
            lambda _, o: o.attrs.__delitem__("pcml_sha256") if "pcml_sha256" in o.attrs else None
        )

    return _edit(path, strip)


def test_format_1_files_are_read_but_not_trusted_as_a_cache(good: Path) -> None:
    _as_format_1(good)
    assert _same(read_dataset(good), _example())
    with pytest.raises(ValueError, match=r"good\.h5.*format_version 1.*no checksums"):
        store_module.verify_dataset(good)


def test_cached_dataset_reuses_a_good_file_and_regenerates_a_corrupt_one(tmp_path: Path) -> None:
    calls: list[int] = []
    logs: list[str] = []

    def build() -> PDEData:
        calls.append(1)
        return _example()

    path = tmp_path / "data.h5"
    assert store_module.cached_dataset(path, build, logs.append) == path and len(calls) == 1
    store_module.cached_dataset(path, build, logs.append)
    assert len(calls) == 1 and logs == []  # verified and reused
    _flip(path, _chunk_offset(path, "t0_fields/u") + 1)
    store_module.cached_dataset(path, build, logs.append)
    assert len(calls) == 2 and len(logs) == 1 and "data.h5" in logs[0]
    assert _same(read_dataset(path), _example())
    _as_format_1(path)  # an old cache without checksums is not trusted either
    store_module.cached_dataset(path, build, logs.append)
    assert len(calls) == 3 and "no checksums" in logs[-1]


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_dataset_files_respect_the_umask(tmp_path: Path, umask: int) -> None:
    import os

    old = os.umask(umask)
    try:
        path = write_dataset(tmp_path / "d.h5", _example())
        cached = store_module.cached_dataset(tmp_path / "c.h5", _example)
    finally:
        os.umask(old)
    for p in (path, cached):
        assert p.stat().st_mode & 0o777 == 0o666 & ~umask
