"""Probabilistic metrics against scipy and numerical integrals; CE and shock positions on grids."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from pcml.metrics.probabilistic import (
    conservation_error,
    crps_gaussian,
    crps_quantile,
    gaussian_log_likelihood,
    mse,
    shock_position,
)

F64 = torch.float64
finite = st.floats(-5.0, 5.0)
positive = st.floats(0.01, 4.0)


@given(mu=finite, var=positive, y=finite)
def test_log_likelihood_matches_scipy(mu: float, var: float, y: float) -> None:
    ll = gaussian_log_likelihood(
        torch.tensor(mu, dtype=F64), torch.tensor(var, dtype=F64), torch.tensor(y, dtype=F64)
    )
    assert ll.item() == pytest.approx(
        stats.norm(mu, math.sqrt(var)).logpdf(y), rel=1e-12, abs=1e-12
    )


@settings(max_examples=15)
@given(mu=finite, var=positive, y=finite)
def test_crps_matches_numerical_integral(mu: float, var: float, y: float) -> None:
    """CRPS = ∫ (F(z) − 1[z ≥ y])² dz, integrated on either side of y."""
    dist = stats.norm(mu, math.sqrt(var))
    left = integrate.quad(lambda z: dist.cdf(z) ** 2, -np.inf, y)[0]
    right = integrate.quad(lambda z: dist.sf(z) ** 2, y, np.inf)[0]
    crps = crps_gaussian(
        torch.tensor(mu, dtype=F64), torch.tensor(var, dtype=F64), torch.tensor(y, dtype=F64)
    )
    assert crps.item() == pytest.approx(left + right, rel=1e-6, abs=1e-9)


def test_crps_shapes_and_minimum_at_mean() -> None:
    mean, var, y = (
        torch.zeros(3, 1, dtype=F64),
        torch.ones(1, 4, dtype=F64),
        torch.linspace(-1, 1, 4, dtype=F64),
    )
    out = crps_gaussian(mean, var, y)
    assert out.shape == (3, 4) and bool((out > 0).all())
    # at y = μ: CRPS = σ (2/√(2π) − 1/√π)
    at_mean = crps_gaussian(
        torch.zeros(1, dtype=F64), torch.tensor([4.0], dtype=F64), torch.zeros(1, dtype=F64)
    )
    assert at_mean.item() == pytest.approx(
        2.0 * (2 / math.sqrt(2 * math.pi) - 1 / math.sqrt(math.pi))
    )


@settings(max_examples=20)
@given(mu=finite, var=positive, y=finite)
def test_crps_quantile_matches_pinball_definition_and_converges(
    mu: float, var: float, y: float
) -> None:
    args = (
        torch.tensor([mu], dtype=F64),
        torch.tensor([var], dtype=F64),
        torch.tensor([y], dtype=F64),
    )
    # default: the Operator-ProbConserv nine levels, ×2/9
    qs = [stats.norm(mu, math.sqrt(var)).ppf(p) for p in np.arange(1, 10) / 10]
    ref = (
        2
        / 9
        * sum(
            max(p * (y - q), (p - 1) * (y - q))
            for p, q in zip(np.arange(1, 10) / 10, qs, strict=True)
        )
    )
    assert crps_quantile(*args).item() == pytest.approx(ref, rel=1e-9, abs=1e-12)
    # midpoint levels → closed-form CRPS
    k = 4000
    fine = crps_quantile(*args, quantiles=(torch.arange(k, dtype=F64) + 0.5) / k)
    assert fine.item() == pytest.approx(crps_gaussian(*args).item(), rel=2e-3, abs=1e-5)


def test_bad_variance_and_quantiles_raise() -> None:
    with pytest.raises(ValueError, match="variance"):
        gaussian_log_likelihood(torch.zeros(2), torch.tensor([1.0, 0.0]), torch.zeros(2))
    with pytest.raises(ValueError, match="quantiles"):
        crps_quantile(
            torch.zeros(2), torch.ones(2), torch.zeros(2), quantiles=torch.tensor([0.0, 0.5])
        )


@given(n=st.integers(2, 40), a=finite, c=finite, seed=st.integers(0, 1000))
def test_conservation_error_exact_for_linear_profiles_on_nonuniform_grids(
    n: int, a: float, c: float, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.sort(torch.rand(n, generator=g, dtype=F64) * 3 - 1).values
    x = x + torch.arange(n, dtype=F64) * 1e-3  # strictly increasing
    lo, hi = x[0].item(), x[-1].item()
    u = (a * x + c).expand(2, n)
    exact = a * (hi**2 - lo**2) / 2 + c * (hi - lo)
    err = conservation_error(u, x, torch.tensor([exact, exact - 0.5], dtype=F64))
    torch.testing.assert_close(err, torch.tensor([0.0, 0.5], dtype=F64), rtol=0, atol=1e-10)


def test_conservation_error_equals_original_formula_on_uniform_grid() -> None:
    x = torch.linspace(0.0, 2 * math.pi, 201, dtype=F64)
    u = torch.sin(x) ** 2 + 0.1 * x
    b = torch.tensor(1.3, dtype=F64)
    length = 2 * math.pi
    original = length * (u[1:].mean() + u[:-1].mean()) / 2 - b
    torch.testing.assert_close(conservation_error(u, x, b), original, rtol=1e-13, atol=1e-13)
    # second-order convergence to ∫_0^{2π} e^{−x} dx = 1 − e^{−2π} (f' differs at the two ends)
    errors = [
        abs(conservation_error(torch.exp(-xx), xx, 1 - math.exp(-2 * math.pi)).item())
        for xx in (torch.linspace(0, 2 * math.pi, m, dtype=F64) for m in (41, 81, 161, 321))
    ]
    slope = stats.linregress(np.log([40, 80, 160, 320]), np.log(errors)).slope
    assert slope == pytest.approx(-2.0, abs=0.1)


def test_mse_per_function() -> None:
    pred, target = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    target[0, 0] = 3.0
    out = mse(pred, target)
    assert out.shape == (2, 3) and out[0, 0].item() == 9.0 and out[1, 2].item() == 1.0
    with pytest.raises(ValueError, match="must match"):
        mse(torch.zeros(3), torch.zeros(4))


@given(front=st.floats(-0.99, 0.99), n=st.integers(3, 80))
def test_shock_position_exact_for_linear_profile_on_shifted_grid(front: float, n: int) -> None:
    """u = front − x crosses 0 at x = front; the grid is [−1, 1] (x_min ≠ 0, defect 12.11)."""
    x = torch.linspace(-1.0, 1.0, n, dtype=F64)
    u = (front - x).expand(3, n)
    pos = shock_position(u, x)
    torch.testing.assert_close(pos, torch.full((3,), front, dtype=F64), rtol=0, atol=1e-12)
    grid = shock_position(u, x, interpolate=False)
    first = x[(x >= front).nonzero()[0, 0]].item()
    assert bool((grid == first).all())


def test_shock_position_step_profiles_and_edges() -> None:
    x = torch.linspace(0.0, 1.0, 11, dtype=F64)
    step = (x < 0.45).to(F64)  # 1 up to x = 0.4, then 0 from x = 0.5
    never = torch.ones(11, dtype=F64)
    at_start = torch.zeros(11, dtype=F64)
    pos = shock_position(torch.stack([step, never, at_start]), x)
    torch.testing.assert_close(pos, torch.tensor([0.5, 1.0, 0.0], dtype=F64))
    # threshold: crossing of 0.5 between x = 0.4 (u = 1) and x = 0.5 (u = 0) is at 0.45
    assert shock_position(step, x, threshold=0.5).item() == pytest.approx(0.45)
    with pytest.raises(ValueError, match="increasing"):
        shock_position(step, x.flip(0))
    with pytest.raises(ValueError, match="length"):
        shock_position(step, x[:-1])
