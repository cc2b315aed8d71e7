"""Cavity datasets: layout, prescribed (not oracle) wall data, solver consistency, store I/O."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import linregress

import pcml.pdes.cavity_datasets as cd
from pcml.data import PDEData, read_dataset, write_dataset
from pcml.pdes.cavity import simulate_cavity
from pcml.pdes.cavity_datasets import (
    build_cavity_dataset,
    cavity_boundary,
    random_streamfunction,
)

KW = {"n_frames": 4, "t_final": 0.2}


@pytest.fixture(scope="module")
def data() -> PDEData:
    return build_cavity_dataset(3, 8, seed=7, **KW)


def test_layout(data: PDEData) -> None:
    for key in ("u", "v", "omega"):
        assert data.fields[key].shape == (3, 5, 9, 9)
        assert data.fields[key].dtype == np.float32
        assert np.all(np.isfinite(data.fields[key]))
    np.testing.assert_allclose(data.time, np.linspace(0, 0.2, 5))
    np.testing.assert_array_equal(data.coords["x"], np.linspace(0, 1, 9))
    lid = data.params["lid_speed"]
    assert np.all((lid >= 0.5) & (lid <= 1.5))
    np.testing.assert_allclose(data.params["reynolds"], lid / data.constants["nu"])
    assert np.all((data.params["init_speed"] >= 0) & (data.params["init_speed"] <= 0.5))
    assert [(b.face, b.kind) for b in data.boundary] == [
        ("x_lower", "dirichlet"),
        ("x_upper", "dirichlet"),
        ("y_lower", "dirichlet"),
        ("y_upper", "dirichlet"),
    ]


def test_wall_values_are_prescribed_velocity(data: PDEData) -> None:
    """Faces hold prescribed u (lid on y = 1, 0 elsewhere); they equal the field traces exactly."""
    u, v = data.fields["u"], data.fields["v"]
    traces = {
        "x_lower": u[:, :, 0, :],
        "x_upper": u[:, :, -1, :],
        "y_lower": u[:, :, :, 0],
        "y_upper": u[:, :, :, -1],
    }
    lid = data.params["lid_speed"].astype(np.float32)
    for b in data.boundary:
        np.testing.assert_array_equal(
            np.broadcast_to(b.values, traces[b.face].shape), traces[b.face]
        )
    np.testing.assert_array_equal(
        u[:, :, :, -1], np.broadcast_to(lid[:, None, None], u[..., -1].shape)
    )
    for b in cavity_boundary(data, "v"):
        assert np.all(b.values == 0)
    assert np.all(v[:, :, [0, -1], :] == 0) and np.all(v[:, :, :, [0, -1]] == 0)


def test_wall_vorticity_is_oracle_only(data: PDEData) -> None:
    with pytest.raises(ValueError, match="not prescribed"):
        cavity_boundary(data, "omega")
    faces = {b.face: b.values for b in cavity_boundary(data, "omega", oracle=True)}
    np.testing.assert_array_equal(faces["y_upper"], data.fields["omega"][:, :, :, -1])
    with pytest.raises(ValueError, match="field must be"):
        cavity_boundary(data, "p")


def test_matches_solver_and_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fluid at rest initially: the stored frames are the fine solver's frames, subsampled."""
    base = build_cavity_dataset(2, 8, seed=1, init_speed_range=(0.0, 0.0), **KW)
    dt = base.constants["dt"]
    tr = simulate_cavity(base.params["lid_speed"], 16, base.time, dt, nu=0.01)
    np.testing.assert_array_equal(base.fields["u"], tr.u[:, :, ::2, ::2].astype(np.float32))
    np.testing.assert_array_equal(base.fields["omega"], tr.omega[:, :, ::2, ::2].astype(np.float32))
    monkeypatch.setattr(cd, "_CHUNK", 1)
    assert build_cavity_dataset(2, 8, seed=1, init_speed_range=(0.0, 0.0), **KW).identical(base)


def test_initial_vortex_law() -> None:
    """ψ₀ and ∂ψ₀/∂n vanish on the walls (no slip, order-2 one-sided check); speed as drawn."""
    rng = np.random.default_rng(0)
    coeffs = rng.standard_normal((2, 4, 4))
    hs, errs = [], []
    for n in (16, 32, 64, 128):
        psi = random_streamfunction(coeffs, n)
        walls = np.concatenate([psi[:, [0, -1], :], psi[:, :, [0, -1]].transpose(0, 2, 1)], 1)
        assert np.abs(walls).max() < 1e-15
        d = (-3 * psi[:, 0, :] + 4 * psi[:, 1, :] - psi[:, 2, :]) * n / 2
        hs.append(1.0 / n)
        errs.append(np.abs(d).max())
    assert linregress(np.log(hs), np.log(errs)).slope > 1.8
    data = build_cavity_dataset(2, 8, seed=3, init_speed_range=(0.2, 0.4), **KW)
    speed0 = np.hypot(data.fields["u"][:, 0, :, :-1], data.fields["v"][:, 0, :, :-1])
    assert np.all(speed0.max(axis=(-2, -1)) <= data.params["init_speed"] + 1e-6)
    assert np.all(speed0.max(axis=(-2, -1)) > 0.5 * data.params["init_speed"])


def test_store_round_trip(data: PDEData, tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "cavity.h5", data)
    assert read_dataset(path).identical(data)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_traj": 0}, "n_traj"),
        ({"n": 2}, "n must"),
        ({"refine": 0}, "refine"),
        ({"lid_speed_range": (1.0, 0.5)}, "lid_speed_range"),
        ({"init_speed_range": (-1.0, 0.5)}, "init_speed_range"),
        ({"nu": 0.0}, "nu"),
    ],
)
def test_bad_input(kwargs: dict, match: str) -> None:
    args: dict = {"n_traj": 1, "n": 8} | KW | kwargs
    with pytest.raises(ValueError, match=match):
        build_cavity_dataset(**args)
