"""Boundary data as generator parameters (BOON studies): per-sample heater flux, Stokes plate
amplitude and frequency, Burgers end values; the OOD ranges really lie outside training."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pcml.experiments.boon.cases import CASES, BoundaryParam
from pcml.pdes.boon_datasets import build_dataset
from pcml.pdes.burgers_dirichlet import (
    BurgersDirichletProblem,
    burgers_dirichlet_cole_hopf,
    burgers_dirichlet_ends,
)
from pcml.pdes.heat_neumann import HeatNeumannProblem, heat_neumann_solution


def test_heat_amplitude_per_sample_is_the_exact_solution_for_that_u() -> None:
    kw = {"heater_amplitude_min": 7.0, "heater_amplitude_max": 10.0}
    data = build_dataset("heat-neumann", n_traj=5, n_x=33, seed=3, **kw)
    amp, omega = data.params["amplitude"], data.params["omega"]
    assert np.all((amp >= 7.0) & (amp <= 10.0)) and np.unique(amp).size == 5
    x = data.coords["x"]
    for i in range(5):  # affine combination u(0) + U (u(1) − u(0)) vs the direct solve with U
        direct = heat_neumann_solution(
            omega[i : i + 1], x, data.time, HeatNeumannProblem(heater_amplitude=float(amp[i]))
        )[0]
        np.testing.assert_allclose(data.fields["u"][i], direct, rtol=0, atol=2e-5)  # float32
    flux = {b.face: b.values for b in data.boundary}
    np.testing.assert_allclose(flux["x_upper"], amp[:, None] * np.sin(np.pi * data.time), 1e-6)
    assert np.all(flux["x_lower"] == 0)
    # the omega draws are those of the fixed-U dataset (U is drawn after ω)
    fixed = build_dataset("heat-neumann", n_traj=5, n_x=33, seed=3)
    np.testing.assert_array_equal(fixed.params["omega"], omega)
    with pytest.raises(ValueError, match="together"):
        HeatNeumannProblem(heater_amplitude_min=1.0)


def test_stokes_plate_amplitude_and_frequency_from_the_ood_ranges() -> None:
    case = CASES["stokes-dirichlet"]
    data = build_dataset(
        "stokes-dirichlet", n_traj=20, n_x=33, seed=1, **case.generator_kwargs("ood")
    )
    train = build_dataset(
        "stokes-dirichlet", n_traj=20, n_x=33, seed=1, **case.generator_kwargs("train")
    )
    assert data.params["amplitude"].min() >= 2.0 and train.params["amplitude"].max() <= 1.5
    assert data.params["omega"].min() >= 9.0 and train.params["omega"].max() <= 8.0
    lower = {b.face: b.values for b in data.boundary}["x_lower"]
    want = data.params["amplitude"][:, None] * np.cos(data.params["omega"][:, None] * data.time)
    np.testing.assert_allclose(lower, want, atol=1e-6)


def test_burgers_end_values_hold_and_zero_ends_match_cole_hopf() -> None:
    p = BurgersDirichletProblem(n_ic_modes=8, mol_nodes=257)
    rng = np.random.default_rng(0)
    coeffs = p.sample_coefficients(3, rng)
    x, t = np.linspace(0, 1, 33), np.array([0.0, 0.25, 1.0])
    a, b = np.array([0.2, -0.4, 0.9]), np.array([-0.1, 0.3, 0.8])
    u = burgers_dirichlet_ends(coeffs, a, b, x, t, p)
    assert np.array_equal(u[:, :, 0], np.broadcast_to(a[:, None], (3, 3)))
    assert np.array_equal(u[:, :, -1], np.broadcast_to(b[:, None], (3, 3)))
    zero = burgers_dirichlet_ends(coeffs, np.zeros(3), np.zeros(3), x, t, p)
    exact = burgers_dirichlet_cole_hopf(coeffs, x, t, dataclasses.replace(p, n_quadrature=512))
    assert np.abs(zero - exact).max() < 1e-3 * np.abs(exact).max()  # 2nd order on 257 nodes
    # the dataset: ends drawn per sample, OOD ends above every training end
    case = CASES["burgers-dirichlet"]
    kw = {"n_ic_modes": 8, "mol_nodes": 129}
    ood = build_dataset("burgers-dirichlet", n_traj=6, n_x=17, seed=2,
                        **case.generator_kwargs("ood"), **kw)  # fmt: skip
    tr = build_dataset("burgers-dirichlet", n_traj=6, n_x=17, seed=2,
                       **case.generator_kwargs("train"), **kw)  # fmt: skip
    ends_ood = np.concatenate([ood.params["end_lower"], ood.params["end_upper"]])
    ends_tr = np.concatenate([tr.params["end_lower"], tr.params["end_upper"]])
    assert ends_ood.min() >= 0.75 and np.abs(ends_tr).max() <= 0.5
    bd = {bb.face: bb.values for bb in ood.boundary}
    np.testing.assert_array_equal(bd["x_lower"][:, 0], ood.fields["u"][:, 0, 0])


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_boundary_parameter_has_disjoint_ranges_and_a_reason(name: str) -> None:
    for p in CASES[name].boundary_params:
        assert p.why
        (a, b), (c, d) = p.train, p.ood
        assert b < c or d < a
    with pytest.raises(ValueError, match="disjoint"):
        BoundaryParam("u", ("lo", "hi"), (0.0, 2.0), (1.0, 3.0))
