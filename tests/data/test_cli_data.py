"""`pcml data info`: a readable summary of a dataset file, clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from pcml.cli import main
from pcml.data import BoundaryData, ConservedData, PDEData, PointData, write_dataset


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    u = np.linspace(-1.5, 2.5, 2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    data = PDEData(
        name="wave_demo",
        fields={"u": u},
        time=np.array([0.0, 0.25, 0.5]),
        coords={"x": np.linspace(0.0, 1.0, 4), "y": np.linspace(-2.0, 2.0, 5)},
        params={"c": np.array([0.5, 0.75])},
        constants={"n_modes": 12, "scheme": "leapfrog"},
        boundary=(
            BoundaryData("x", "lower", "dirichlet", np.zeros((1, 3, 5))),
            BoundaryData("x", "upper", "neumann", np.zeros((2, 3, 5)), stencil_order=2),
            BoundaryData("y", "lower", "periodic", None),
            BoundaryData("y", "upper", "periodic", None),
        ),
        conserved=ConservedData(
            np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]),
            domain=(0.0, 1.0, -2.0, 2.0),
            derivation="flux_integral",
        ),
        points=PointData(*(np.zeros((2, n, d)) for n, d in ((7, 3), (7, 1), (9, 3), (9, 1)))),
        generator="pcml.pdes.wave2d.generate",
        generator_version="2",
        seed=42,
    )
    return write_dataset(tmp_path / "wave.h5", data)


def _section(output: str, title: str) -> str:
    """The lines of one section (up to the next blank line)."""
    return output.split(f"\n{title}\n", 1)[1].split("\n\n", 1)[0].rstrip("\n")


def test_info_lists_contents(dataset: Path) -> None:
    result = CliRunner().invoke(main, ["data", "info", str(dataset)])
    assert result.exit_code == 0, result.output
    out = result.output
    head = out.split("\n\n", 1)[0]
    for text in (
        "wave_demo",
        "pcml.pdes.wave2d.generate (version 2)",
        "seed       42",
        "n_traj     2",
    ):
        assert text in head
    assert "u     (2, 3, 4, 5)  float32  -1.5  2.5" in _section(out, "fields")
    grids = _section(out, "grids")
    assert "time  3" in grids and "0.5" in grids
    assert "y     5     float64  -2   2" in grids
    assert "c     float64  0.5  0.75" in _section(out, "parameters (per trajectory)")
    constants = _section(out, "constants")
    assert "n_modes  int" in constants and "'leapfrog'" in constants
    bcs = _section(out, "boundary conditions")
    assert "x     dirichlet values (1, 3, 5)  neumann values (2, 3, 5) order 2" in bcs
    assert "y     periodic                    periodic" in bcs
    conserved = _section(out, "conserved")
    assert "flux_integral" in conserved and "trapezoid" in conserved
    assert "(0.0, 1.0, -2.0, 2.0)" in conserved and "range [1, 2]" in conserved
    points = _section(out, "points")
    assert "context_inputs  (2, 7, 3)" in points and "target_values   (2, 9, 1)" in points


def test_info_shows_none_for_missing_parts(tmp_path: Path) -> None:
    data = PDEData("bare", {"u": np.ones((1, 2, 3))}, np.arange(2.0), {"x": np.arange(3.0)})
    out = CliRunner().invoke(main, ["data", "info", str(write_dataset(tmp_path / "b.h5", data))])
    assert out.exit_code == 0
    for title in ("parameters (per trajectory)", "constants", "boundary conditions", "points"):
        assert _section(out.output, title) == "  (none)"
    assert "seed       -" in out.output


def test_info_fails_clearly_on_bad_files(dataset: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    junk = tmp_path / "junk.h5"
    junk.write_text("hello")
    result = runner.invoke(main, ["data", "info", str(junk)])
    assert result.exit_code != 0 and "junk.h5" in result.output and "HDF5" in result.output
    with h5py.File(dataset, "r+") as f:
        del f["t0_fields/u"]
    result = runner.invoke(main, ["data", "info", str(dataset)])
    assert result.exit_code != 0 and "wave.h5" in result.output and "t0_fields/u" in result.output
    result = runner.invoke(main, ["data", "info", str(tmp_path / "nope.h5")])
    assert result.exit_code != 0 and "nope.h5" in result.output


def test_info_never_reads_a_whole_field(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every read of a field or point set is one bounded block (here 64 bytes), and the printed
    ranges are still exact."""
    from pcml.data import store

    reads: list[tuple[str, int]] = []
    original = h5py.Dataset.__getitem__

    def spy(self: h5py.Dataset, key: object) -> object:
        out = original(self, key)
        reads.append((self.name, int(np.asarray(out).nbytes)))
        return out

    monkeypatch.setattr(store, "_BLOCK_BYTES", 64)
    monkeypatch.setattr(h5py.Dataset, "__getitem__", spy)
    result = CliRunner().invoke(main, ["data", "info", str(dataset)])
    assert result.exit_code == 0, result.output
    big = [(n, b) for n, b in reads if n.startswith(("/t0_fields", "/points"))]
    assert big and max(b for _, b in big) <= 64, big
    assert "u     (2, 3, 4, 5)  float32  -1.5  2.5" in _section(result.output, "fields")


def test_info_refuses_external_links_and_names_the_file(dataset: Path, tmp_path: Path) -> None:
    with h5py.File(dataset, "r+") as f:
        f["t0_fields/w"] = h5py.ExternalLink(str(tmp_path / "big.h5"), "/x")
    result = CliRunner().invoke(main, ["data", "info", str(dataset)])
    assert result.exit_code == 1 and "wave.h5" in result.output
    assert "'t0_fields/w' is an external link" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_info_detects_a_flipped_byte(dataset: Path) -> None:
    with h5py.File(dataset, "r") as f:
        offset = int(f["t0_fields/u"].id.get_chunk_info(0).byte_offset)
    blob = bytearray(dataset.read_bytes())
    blob[offset + 1] ^= 0x08
    dataset.write_bytes(bytes(blob))
    result = CliRunner().invoke(main, ["data", "info", str(dataset)])
    assert result.exit_code == 1 and "wave.h5" in result.output and "t0_fields/u" in result.output
