"""Stokes' second problem: the closed form solves u_t = ν u_xx (FD residual, fitted order 2)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import linregress

from pcml.pdes.stokes import (
    StokesParameters,
    StokesProblem,
    stokes_boundary_values,
    stokes_solution,
)

PROBLEM = StokesProblem(amplitude_min=1.0, amplitude_max=2.0, viscosity_min=0.05, viscosity_max=0.2)


def _residual(params: StokesParameters, h: float) -> float:
    """max |D_t u − ν D_xx u| with central differences of step h in x and t at interior points."""
    x0 = np.array([0.1, 0.3, 0.6, 0.9])
    t0 = 0.7
    x = np.concatenate([x0 - h, x0, x0 + h])
    t = np.array([t0 - h, t0, t0 + h])
    u = stokes_solution(params, x, t)  # (n_traj, 3, 3 * n)
    n = x0.size
    u_t = (u[:, 2, n : 2 * n] - u[:, 0, n : 2 * n]) / (2 * h)
    u_xx = (u[:, 1, 2 * n :] - 2 * u[:, 1, n : 2 * n] + u[:, 1, :n]) / h**2
    return float(np.abs(u_t - params.viscosity[:, None] * u_xx).max())


def test_pde_residual_converges_at_second_order() -> None:
    params = PROBLEM.sample(16, np.random.default_rng(0))
    steps = np.array([0.02, 0.01, 0.005, 0.0025])
    residuals = [_residual(params, h) for h in steps]
    fit = linregress(np.log(steps), np.log(residuals))
    assert fit.slope == pytest.approx(2.0, abs=0.05)
    assert residuals[-1] < 1e-2  # a wrong ν or κ leaves an O(1) residual


def test_boundary_and_initial_values() -> None:
    params = PROBLEM.sample(5, np.random.default_rng(1))
    t = np.linspace(0, 1.2, 26)
    u = stokes_solution(params, np.array([0.0, 1.0]), t)
    lower, upper = stokes_boundary_values(params, t)
    np.testing.assert_allclose(u[..., 0], lower, rtol=0, atol=1e-15)
    np.testing.assert_allclose(u[..., 1], upper, rtol=0, atol=1e-15)
    amp = params.amplitude[:, None]
    np.testing.assert_allclose(lower, amp * np.cos(params.omega[:, None] * t), atol=1e-15)
    x = np.linspace(0, 1, 7)
    kappa = np.sqrt(params.omega / (2 * params.viscosity))[:, None]
    u0 = stokes_solution(params, x, np.array([0.0]))[:, 0]
    np.testing.assert_allclose(u0, amp * np.exp(-kappa * x) * np.cos(kappa * x), atol=1e-15)


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 20))
def test_sampling_laws(seed: int, n: int) -> None:
    params = PROBLEM.sample(n, np.random.default_rng(seed))
    assert params.omega.shape == (n,)
    assert np.all((params.omega >= 2.0) & (params.omega <= 8.0))
    assert np.all((params.amplitude >= 1.0) & (params.amplitude <= 2.0))
    assert np.all((params.viscosity >= 0.05) & (params.viscosity <= 0.2))
    default = StokesProblem().sample(n, np.random.default_rng(seed))
    assert np.all(default.amplitude == 1.0) and np.all(default.viscosity == 0.1)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="omega_min"):
        StokesProblem(omega_min=3.0, omega_max=2.0)
    with pytest.raises(ValueError, match="share a shape"):
        StokesParameters(np.ones(2), np.ones(3), np.ones(2))
    with pytest.raises(ValueError, match="1-D"):
        stokes_solution(
            StokesProblem().sample(1, np.random.default_rng(0)), np.ones((2, 2)), np.ones(1)
        )
