"""BOON 1-D dataset builders: layout, boundary data, recorded parameters, reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pcml.data import read_dataset, write_dataset
from pcml.pdes import boon_datasets
from pcml.pdes.boon_datasets import CASES, build_dataset
from pcml.pdes.heat_neumann import HeatNeumannProblem, heat_neumann_solution
from pcml.pdes.stokes import StokesParameters, stokes_solution

SMALL = {
    "heat-neumann": 33,
    "stokes-dirichlet": 33,
    "burgers-dirichlet": 33,
    "burgers-periodic": 17,
}
FAST: dict[str, dict[str, float]] = {"burgers-periodic": {"n_solver": 64, "dt": 0.01}}


@pytest.mark.parametrize("multi_step", [False, True])
@pytest.mark.parametrize("case", list(CASES))
def test_layout_and_boundary_data(case: str, multi_step: bool) -> None:
    spec = CASES[case]
    n_x = SMALL[case]
    data = build_dataset(
        case, n_traj=3, n_x=n_x, multi_step=multi_step, seed=5, n_frames=4, **FAST.get(case, {})
    )
    u = data.fields["u"]
    n_steps = 5 if multi_step else 2
    assert u.shape == (3, n_steps, n_x) and u.dtype == np.float32
    assert np.all(np.isfinite(u))
    np.testing.assert_array_equal(data.coords["x"], np.linspace(0, 1, n_x))
    w = spec.window
    expected_t = np.linspace(0, w.t_final, w.n_times)[-4:] if multi_step else [w.t_single]
    np.testing.assert_array_equal(data.time, np.concatenate([[0.0], expected_t]))
    assert [(b.axis, b.side, b.kind) for b in data.boundary] == [
        ("x", "lower", spec.bc_kind),
        ("x", "upper", spec.bc_kind),
    ]
    lower, upper = data.boundary
    if spec.bc_kind == "dirichlet":
        np.testing.assert_array_equal(lower.values, u[..., 0])
        np.testing.assert_array_equal(upper.values, u[..., -1])
    elif spec.bc_kind == "neumann":
        assert lower.values is not None and upper.values is not None
        np.testing.assert_array_equal(lower.values, np.zeros((3, n_steps)))
        np.testing.assert_allclose(upper.values, 5 * np.sin(np.pi * data.time) * np.ones((3, 1)),
                                   rtol=1e-6)  # fmt: skip
    else:
        assert lower.values is None and upper.values is None
        np.testing.assert_array_equal(u[..., -1], u[..., 0])
    assert data.constants["case"] == case and data.constants["multi_step"] == multi_step
    assert data.constants["window_n_frames"] == 4 and data.seed == 5
    assert data.generator.startswith("pcml.pdes.") and data.generator_version


def test_default_sizes_are_the_paper_values() -> None:
    heat = CASES["heat-neumann"]
    assert (heat.n_x_single, heat.n_x_multi) == (500, 1024)
    assert heat.n_traj(False) == 600 and heat.n_traj(True) == 1200
    times = heat.window.times(True)
    np.testing.assert_allclose(times[1:], np.linspace(0, 0.5, 200)[-25:])
    assert CASES["stokes-dirichlet"].window.times(True)[-1] == pytest.approx(1.2)
    burgers = CASES["burgers-periodic"].window.times(True)
    np.testing.assert_allclose(burgers[1:], np.linspace(0, 1, 101)[-25:])


def test_values_match_the_generators() -> None:
    heat = build_dataset("heat-neumann", n_traj=4, n_x=50, seed=1)
    omega = heat.params["omega"]
    assert np.all((omega >= 2.01) & (omega <= 3.99))
    ref = heat_neumann_solution(omega, heat.coords["x"], heat.time, HeatNeumannProblem())
    np.testing.assert_allclose(heat.fields["u"], ref, rtol=0, atol=1e-6)
    u0 = np.cos(np.pi * np.outer(omega, heat.coords["x"])).astype(np.float32)
    np.testing.assert_array_equal(heat.fields["u"][:, 0], u0)
    stokes = build_dataset("stokes-dirichlet", n_traj=4, n_x=50, seed=1, multi_step=True)
    prm = StokesParameters(*(stokes.params[k] for k in ("omega", "amplitude", "viscosity")))
    ref = stokes_solution(prm, stokes.coords["x"], stokes.time)
    np.testing.assert_allclose(stokes.fields["u"], ref, rtol=0, atol=1e-6)


def test_reproducible_and_independent_of_chunking(monkeypatch: pytest.MonkeyPatch) -> None:
    for case in CASES:
        fast = FAST.get(case, {})
        a = build_dataset(case, n_traj=5, n_x=SMALL[case], seed=3, **fast)
        b = build_dataset(case, n_traj=5, n_x=SMALL[case], seed=4, **fast)
        monkeypatch.setattr(boon_datasets, "_CHUNK", 2)
        c = build_dataset(case, n_traj=5, n_x=SMALL[case], seed=3, **fast)
        monkeypatch.undo()
        assert a.identical(c), case
        assert not np.array_equal(a.fields["u"], b.fields["u"]), case


def test_overrides_are_applied_and_recorded() -> None:
    data = build_dataset("burgers-dirichlet", n_traj=2, n_x=21, viscosity=0.2, t_single=0.5)
    assert data.constants["viscosity"] == 0.2 and data.constants["window_t_single"] == 0.5
    assert data.time[-1] == 0.5
    assert data.constants["spectrum_amplitude"] == 625.0  # nested dataclasses are flattened
    with pytest.raises(ValueError, match="unknown keys"):
        build_dataset("heat-neumann", n_traj=2, n_x=21, viscosity=0.2)


def test_roundtrip_through_the_store(tmp_path: Path) -> None:
    data = build_dataset("heat-neumann", n_traj=2, n_x=17, multi_step=True, seed=2)
    path = write_dataset(tmp_path / "heat.h5", data)
    assert read_dataset(path).identical(data)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="case"):
        build_dataset("wave", n_traj=2, n_x=21)
    with pytest.raises(ValueError, match="n_traj"):
        build_dataset("heat-neumann", n_traj=0, n_x=21)
    with pytest.raises(ValueError, match="n_x"):
        build_dataset("heat-neumann", n_traj=2, n_x=3)
    with pytest.raises(ValueError, match="must divide n_solver"):
        build_dataset("burgers-periodic", n_traj=2, n_x=100)
