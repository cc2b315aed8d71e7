"""Heat equation with Neumann flux: series solution vs an independent Crank–Nicolson solve."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import solve_banded
from scipy.stats import linregress

from pcml.pdes.heat_neumann import HeatNeumannProblem, heat_neumann_flux, heat_neumann_solution

OMEGA = np.array([2.01, 2.5, 3.3, 3.99])


def _crank_nicolson(
    omega: np.ndarray, n_x: int, dt: float, t_end: float, k: float, big_u: float
) -> np.ndarray:
    """Second-order CN, ghost nodes u_{−1} = u_1 and u_N = u_{N−2} + 2h·U sin(πt); (n_traj, n_x)."""
    x = np.linspace(0.0, 1.0, n_x)
    h = x[1] - x[0]
    r = k * dt / (2 * h * h)
    u = np.cos(np.pi * np.outer(x, omega))
    ab = np.zeros((3, n_x))
    ab[0, 1:], ab[1], ab[2, :-1] = -r, 1 + 2 * r, -r
    ab[0, 1], ab[2, -2] = -2 * r, -2 * r  # ghost-node rows
    for step in range(round(t_end / dt)):
        t0, t1 = step * dt, (step + 1) * dt
        rhs = (1 - 2 * r) * u
        rhs[1:-1] += r * (u[2:] + u[:-2])
        rhs[0] += 2 * r * u[1]
        rhs[-1] += 2 * r * u[-2] + 2 * r * h * big_u * (np.sin(np.pi * t0) + np.sin(np.pi * t1))
        u = solve_banded((1, 1), ab, rhs)
    return u.T


def test_agrees_with_crank_nicolson() -> None:
    """CN converges to the series solution at order 2; Richardson-extrapolated CN agrees ≤ 1e-6."""
    p = HeatNeumannProblem()
    sizes, errors, solutions = [129, 257, 513], [], []
    for n_x in sizes:
        dt = 0.1 / (n_x - 1)  # dt ∝ h keeps CN's error O(h²)
        u_cn = _crank_nicolson(OMEGA, n_x, dt, 0.5, p.diffusivity, p.heater_amplitude)
        exact = heat_neumann_solution(OMEGA, np.linspace(0, 1, n_x), np.array([0.5]), p)[:, 0]
        errors.append(np.abs(u_cn - exact).max())
        solutions.append(u_cn)
    fit = linregress(np.log(1.0 / (np.array(sizes) - 1)), np.log(errors))
    assert fit.slope == pytest.approx(2.0, abs=0.05)
    richardson = (4 * solutions[2][:, ::2] - solutions[1]) / 3
    exact = heat_neumann_solution(OMEGA, np.linspace(0, 1, 257), np.array([0.5]), p)[:, 0]
    assert np.abs(richardson - exact).max() < 1e-6
    assert errors[-1] < 1e-4


def test_boundary_fluxes_on_the_data() -> None:
    """A 6th-order one-sided difference of the data gives u_x(0) ≈ 0 and u_x(1) ≈ U sin(πt).

    The stencil sees the truncated tail of the series divided by h (≈ 5e-6 at t = 0.1 with 1024
    modes on 2001 nodes, ∝ n_modes⁻³), so early times use 4096 modes.
    """
    p = HeatNeumannProblem(n_modes=4096)
    n_x = 2001
    x = np.linspace(0, 1, n_x)
    h = x[1] - x[0]
    t = np.array([0.1, 0.25, 0.44, 0.5])
    u = heat_neumann_solution(OMEGA, x, t, p)
    w = np.array([-49 / 20, 6, -15 / 2, 20 / 3, -15 / 4, 6 / 5, -1 / 6])  # forward, O(h⁶)
    flux_lower = u[..., :7] @ w / h
    flux_upper = -(u[..., ::-1][..., :7] @ w) / h
    lower, upper = heat_neumann_flux(t, p)
    assert np.abs(flux_lower - lower).max() < 1e-6
    assert np.abs(flux_upper - upper).max() < 1e-6
    assert upper[-1] == pytest.approx(5.0)
    # default modes on the multi-step grid and window (t in [0.44, 0.5])
    x = np.linspace(0, 1, 1024)
    t = np.linspace(0, 0.5, 200)[-25:]
    u = heat_neumann_solution(OMEGA, x, t, HeatNeumannProblem())
    flux_upper = -(u[..., ::-1][..., :7] @ w) / (x[1] - x[0])
    assert np.abs(flux_upper - heat_neumann_flux(t, p)[1]).max() < 1e-6
    assert np.abs(u[..., :7] @ w).max() / (x[1] - x[0]) < 1e-6


def _polynomial_lift_series(omega: np.ndarray, x: np.ndarray, t: float, n_modes: int) -> np.ndarray:
    """Slow reference (boon.md §13.1): u = U sin(πt)x²/2 + Σ a_n(t) cos(nπx), each a_n from its
    forced ODE a' = −λa + α sin(πt) + β cos(πt) solved in closed form; (n_traj, n_x)."""
    k, big_u = 0.01, 5.0
    out = np.empty((omega.size, x.size))
    for i, w in enumerate(omega):
        u = big_u * np.sin(np.pi * t) * x**2 / 2
        for n in range(n_modes):
            lam = k * (n * np.pi) ** 2
            if n == 0:
                c_x2, a0 = 1 / 3, np.sin(w * np.pi) / (w * np.pi)
            else:
                c_x2 = 4 * (-1) ** n / (n * np.pi) ** 2
                a0 = (-1) ** n * np.sin(w * np.pi) * 2 * w / (np.pi * (w**2 - n**2))
            alpha, beta = (k * big_u if n == 0 else 0.0), -np.pi * big_u / 2 * c_x2
            a_p = (lam * alpha + np.pi * beta) / (lam**2 + np.pi**2)
            b_p = (lam * beta - np.pi * alpha) / (lam**2 + np.pi**2)
            a_n = a_p * np.sin(np.pi * t) + b_p * np.cos(np.pi * t) + (a0 - b_p) * np.exp(-lam * t)
            u = u + a_n * np.cos(n * np.pi * x)
        out[i] = u
    return out


def test_agrees_with_polynomial_lift_series() -> None:
    """Same solution as the x²-lift series of the reference (whose tail decays only like n⁻³)."""
    x = np.linspace(0, 1, 41)
    got = heat_neumann_solution(OMEGA[:2], x, np.array([0.5]), HeatNeumannProblem())[:, 0]
    ref = _polynomial_lift_series(OMEGA[:2], x, 0.5, 4000)
    assert np.abs(got - ref).max() < 1e-10


def test_mode_count_convergence() -> None:
    """The truncation error follows the predicted tail Σ_{n≥N} n⁻² e^{−k(nπ)²t} (d_n ~ n⁻²):
    fitted log-log slope ≈ 1; the default mode count is exact to round-off from t = 5e-4 on."""
    x = np.linspace(0, 1, 257)
    t = 0.01
    ref = heat_neumann_solution(OMEGA, x, np.array([t]), HeatNeumannProblem(n_modes=1024))
    modes = np.array([30, 40, 50, 60, 70])
    err = [np.abs(heat_neumann_solution(OMEGA, x, np.array([t]), HeatNeumannProblem(n_modes=m))
                  - ref).max() for m in modes]  # fmt: skip
    n = np.arange(1.0, 3000.0)
    tail = n**-2.0 * np.exp(-0.01 * (n * np.pi) ** 2 * t)
    predicted = [tail[m - 1 :].sum() for m in modes]
    fit = linregress(np.log(predicted), np.log(err))
    assert fit.slope == pytest.approx(1.0, abs=0.05)
    times = np.array([5e-4, 0.01, 0.44])
    default = heat_neumann_solution(OMEGA, x, times, HeatNeumannProblem())
    ref = heat_neumann_solution(OMEGA, x, times, HeatNeumannProblem(n_modes=4096))
    assert np.abs(default - ref).max() < 1e-13


def test_initial_condition_and_shapes() -> None:
    x = np.linspace(0, 1, 11)
    u = heat_neumann_solution(OMEGA, x, np.array([0.0, 0.3]), HeatNeumannProblem())
    assert u.shape == (4, 2, 11)
    np.testing.assert_array_equal(u[:, 0], np.cos(np.pi * np.outer(OMEGA, x)))


def test_bad_input() -> None:
    p = HeatNeumannProblem()
    with pytest.raises(ValueError, match="integer"):
        heat_neumann_solution(np.array([3.0]), np.linspace(0, 1, 5), np.array([0.5]), p)
    with pytest.raises(ValueError, match="x must"):
        heat_neumann_solution(OMEGA, np.linspace(0, 2, 5), np.array([0.5]), p)
    with pytest.raises(ValueError, match="t must"):
        heat_neumann_solution(OMEGA, np.linspace(0, 1, 5), np.array([-0.5]), p)
    with pytest.raises(ValueError, match="diffusivity"):
        HeatNeumannProblem(diffusivity=0.0)
