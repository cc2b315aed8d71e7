"""Burgers with Dirichlet ends: Cole–Hopf exact solution vs a second-order method of lines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import linregress

from pcml.pdes.burgers_dirichlet import (
    BurgersDirichletProblem,
    burgers_dirichlet_cole_hopf,
    burgers_dirichlet_mol,
    sine_series,
)

PROBLEM = BurgersDirichletProblem()
T = np.array([0.0, 0.25, 1.0])


@pytest.fixture(scope="module")
def coeffs() -> np.ndarray:
    return PROBLEM.sample_coefficients(3, np.random.default_rng(0))


def test_mol_converges_to_cole_hopf_at_second_order(coeffs: np.ndarray) -> None:
    sizes = np.array([51, 101, 201, 401])
    errors, solutions = [], []
    for n_x in sizes:
        x = np.linspace(0, 1, n_x)
        mol = burgers_dirichlet_mol(sine_series(coeffs, x), T, PROBLEM.viscosity)
        exact = burgers_dirichlet_cole_hopf(coeffs, x, T, PROBLEM)
        errors.append(np.abs(mol - exact)[:, 1:].max())
        solutions.append(mol)
    fit = linregress(np.log(1.0 / (sizes - 1)), np.log(errors))
    assert fit.slope == pytest.approx(2.0, abs=0.1)
    richardson = (4 * solutions[-1][..., ::2] - solutions[-2]) / 3
    exact = burgers_dirichlet_cole_hopf(coeffs, np.linspace(0, 1, 201), T, PROBLEM)
    assert np.abs(richardson - exact).max() < 1e-7  # measured 1.7e-9
    assert errors[-1] < 1e-4


def test_cole_hopf_quadrature_converged(coeffs: np.ndarray) -> None:
    x = np.linspace(0, 1, 301)
    fine = BurgersDirichletProblem(n_quadrature=8192)
    a = burgers_dirichlet_cole_hopf(coeffs, x, T, PROBLEM)
    b = burgers_dirichlet_cole_hopf(coeffs, x, T, fine)
    assert np.abs(a - b).max() < 1e-13
    # t -> 0+: the series reproduces u₀ (a continuity check of the transform and its coefficients)
    c = burgers_dirichlet_cole_hopf(coeffs, x, np.array([1e-9]), fine)[:, 0]
    assert np.abs(c - sine_series(coeffs, x)).max() < 1e-6


def test_boundary_values_and_initial_condition(coeffs: np.ndarray) -> None:
    x = np.linspace(0, 1, 101)
    u = burgers_dirichlet_cole_hopf(coeffs, x, T, PROBLEM)
    assert np.abs(u[..., [0, -1]]).max() < 1e-12
    np.testing.assert_array_equal(u[:, 0], sine_series(coeffs, x))
    assert 0.3 < np.abs(u[:, 0]).max() < 5.0  # |u₀| = O(1) under the documented law


def test_no_overflow_for_small_viscosity() -> None:
    """The max-shift keeps θ₀ ≤ 1: ν = 0.02 with |Φ|/2ν ≈ 25+ stays finite."""
    coeffs = 3 * PROBLEM.sample_coefficients(2, np.random.default_rng(1))
    p = BurgersDirichletProblem(viscosity=0.02, n_quadrature=4096)
    u = burgers_dirichlet_cole_hopf(coeffs, np.linspace(0, 1, 101), np.array([0.5]), p)
    assert np.all(np.isfinite(u))
    # finite *and right*: the shifted Cole–Hopf series agrees with the method of lines, whose
    # error falls at second order (measured 1.27e-3 at 201 nodes, 3.17e-4 at 401), obeys the
    # maximum principle of viscous Burgers with zero ends and keeps u(t, 0) = u(t, 1) = 0
    times = np.array([0.0, 0.5])
    errors = []
    for n_x in (201, 401):
        x = np.linspace(0, 1, n_x)
        exact = burgers_dirichlet_cole_hopf(coeffs, x, times, p)
        mol = burgers_dirichlet_mol(sine_series(coeffs, x), times, p.viscosity)
        errors.append(np.abs(exact - mol).max())
        assert np.abs(exact[:, 1]).max() <= np.abs(exact[:, 0]).max() * (1 + 1e-9)
        assert np.abs(exact[..., [0, -1]]).max() < 1e-12
        assert np.abs(exact[:, 1]).max() > 0.5  # not decayed to a trivial state
    assert errors[1] < 5e-4
    assert 3.5 < errors[0] / errors[1] < 4.5


def test_bad_input(coeffs: np.ndarray) -> None:
    with pytest.raises(ValueError, match="n_quadrature"):
        BurgersDirichletProblem(n_quadrature=16)
    with pytest.raises(ValueError, match="coeffs"):
        burgers_dirichlet_cole_hopf(coeffs[0], np.linspace(0, 1, 5), T, PROBLEM)
    with pytest.raises(ValueError, match="t must"):
        burgers_dirichlet_mol(np.zeros((1, 5)), np.array([0.5, 1.0]), 0.1)
