"""One-sided Fornberg stencils: known weights, polynomial exactness, fitted convergence order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import linregress

from pcml.constraints.stencils import OneSidedStencil, fornberg_weights, uniform_coords


def test_known_uniform_weights() -> None:
    n = 11
    h = 1.0 / (n - 1)
    c = uniform_coords(n)
    w1 = OneSidedStencil(1).weights(c, "lower")
    assert w1.nodes == (0, 1) and w1.boundary == 0
    np.testing.assert_allclose(w1.weights, [-1 / h, 1 / h], rtol=1e-13)
    # the original right-end stencil (third order; the notebooks call it fourth)
    w3 = OneSidedStencil(3).weights(c, "upper")
    assert w3.nodes == (7, 8, 9, 10) and w3.boundary == 3
    np.testing.assert_allclose(
        w3.weights, np.array([-1 / 3, 3 / 2, -3, 11 / 6]) / h, rtol=1e-12, atol=1e-9
    )
    # central weights from the raw routine: f'' at 0 from (-1, 0, 1) is (1, -2, 1)
    c2 = fornberg_weights(0.0, [-1.0, 0.0, 1.0], 2)
    np.testing.assert_allclose([row[2] for row in c2], [1.0, -2.0, 1.0], atol=1e-14)


def test_solve_boundary_gives_fixed_left_and_original_right_relations() -> None:
    """Left, order 1: u0 = u1 − h g (the original's u0 = g + u1 is wrong for g ≠ 0). Right, order
    3: u_{N−1} = 6h/11 g + 18/11 u_{N−2} − 9/11 u_{N−3} + 2/11 u_{N−4} (original c_norm)."""
    n = 9
    h = 1.0 / (n - 1)
    c = uniform_coords(n)
    u = torch.randn(2, 3, n, dtype=torch.float64)
    g = torch.tensor([[1.5], [-2.0]], dtype=torch.float64)
    left = OneSidedStencil(1).weights(c, "lower").solve_boundary(u, g, 2)
    torch.testing.assert_close(left, u[:, :, 1] - h * g)
    right = OneSidedStencil(3).weights(c, "upper").solve_boundary(u, g, 2)
    expect = 6 * h / 11 * g + 18 / 11 * u[:, :, -2] - 9 / 11 * u[:, :, -3] + 2 / 11 * u[:, :, -4]
    torch.testing.assert_close(right, expect)


@settings(max_examples=30)
@given(
    order=st.integers(1, 5),
    n=st.integers(8, 30),
    side=st.sampled_from(["lower", "upper"]),
    seed=st.integers(0, 9999),
)
def test_exact_on_polynomials_on_nonuniform_grids(order, n, side, seed) -> None:
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1.0, 2.0, n))
    if np.min(np.diff(x)) < 1e-3:
        x = np.linspace(-1.0, 2.0, n) + rng.uniform(0, 0.01, n)
    coef = rng.normal(size=order + 1)
    u = torch.tensor(np.polyval(coef, x)).reshape(1, 1, n)
    xb = x[0] if side == "lower" else x[-1]
    exact = np.polyval(np.polyder(coef), xb)
    w = OneSidedStencil(order).weights(torch.tensor(x), side)
    d = w.apply(u, 2).item()
    scale = sum(abs(wj * u[0, 0, j].item()) for j, wj in zip(w.nodes, w.weights, strict=True))
    assert abs(d - exact) <= 1e-10 * max(scale, 1.0)
    # solve_boundary is the inverse relation: recovers the boundary value for D u = exact
    ub = w.solve_boundary(u, torch.tensor(exact), 2)
    assert torch.allclose(ub, u.select(2, w.nodes[w.boundary]), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("side", ["lower", "upper"])
def test_fitted_convergence_order(order: int, side: str) -> None:
    """u = exp(1.5x) on [0, 1] (no vanishing derivative, so no accidental cancellation)."""
    ns = [16, 32, 64, 128]
    errs = []
    for n in ns:
        c = uniform_coords(n)
        u = torch.exp(1.5 * c).reshape(1, 1, n)
        d = OneSidedStencil(order).weights(c, side).apply(u, 2).item()  # type: ignore[arg-type]
        xb = 0.0 if side == "lower" else 1.0
        errs.append(abs(d - 1.5 * np.exp(1.5 * xb)))
    slope = linregress(np.log([1.0 / (n - 1) for n in ns]), np.log(errs)).slope
    assert abs(slope - order) < 0.15


def test_errors() -> None:
    with pytest.raises(ValueError, match="order"):
        OneSidedStencil(0)
    with pytest.raises(ValueError, match="too small"):
        OneSidedStencil(3).weights(uniform_coords(4), "lower")
    with pytest.raises(ValueError, match="increasing"):
        OneSidedStencil(1).weights([0.0, 0.5, 0.4, 1.0], "lower")
    with pytest.raises(ValueError, match="side"):
        OneSidedStencil(1).weights(uniform_coords(5), "left")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="distinct"):
        fornberg_weights(0.0, [0.0, 0.0], 1)


def test_inconsistent_stencils_and_non_1d_grids_are_refused() -> None:
    """A StencilWeights whose weights and nodes differ in length is not a stencil: applying it or
    solving with it raises instead of silently dropping a node (which would give a derivative
    that is wrong for linear u). Coordinates must be a 1-D grid (N,): an (N, 1) tensor is refused
    rather than read row by row. A consistent stencil built by hand applies exactly."""
    from pcml.constraints.stencils import StencilWeights

    u = torch.arange(5.0, dtype=torch.float64).reshape(1, 5) ** 2  # u = x², x = 0..4
    good = StencilWeights((0, 1, 2), (-1.5, 2.0, -0.5), 0)  # 2nd-order u'(0), h = 1
    assert float(good.apply(u, 1)) == 0.0  # (x²)' = 0 at x = 0
    assert float(good.solve_boundary(u, torch.tensor([0.0], dtype=torch.float64), 1)) == 0.0
    for bad in (
        StencilWeights((0, 1, 2), (-1.5, 2.0), 0),
        StencilWeights((0, 1), (-1.5, 2.0, -0.5), 0),
    ):
        with pytest.raises(ValueError):
            bad.apply(u, 1)
        with pytest.raises(ValueError):
            bad.solve_boundary(u, torch.zeros(1, dtype=torch.float64), 1)
    with pytest.raises((TypeError, ValueError)):
        OneSidedStencil(1).weights(uniform_coords(5).reshape(5, 1), "lower")
    # a 1-D float32 tensor, a float64 tensor and a list give the same weights
    for c in (uniform_coords(5, torch.float32), uniform_coords(5), [0.0, 0.25, 0.5, 0.75, 1.0]):
        assert OneSidedStencil(2).weights(c, "upper").weights == (2.0, -8.0, 6.0)
