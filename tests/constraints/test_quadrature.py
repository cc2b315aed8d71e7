"""Tests for pcml.constraints.quadrature: closed forms, scipy agreement, convergence orders."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import simpson
from scipy.stats import linregress

from pcml.constraints import QuadratureRule, quadrature_weights
from pcml.constraints.quadrature import RULES, IntervalRule

F64 = torch.float64


def _grid(rng, n, batch=()):
    return np.sort(rng.uniform(0.0, 1.0, size=(*batch, n)), axis=-1)


@given(st.integers(2, 30), st.integers(0, 2**32 - 1))
def test_trapezoid_rhs_lhs_closed_forms(n, seed):
    x = _grid(np.random.default_rng(seed), n)
    dx = np.diff(x)
    trap = np.concatenate([[dx[0] / 2], (dx[:-1] + dx[1:]) / 2, [dx[-1] / 2]])
    np.testing.assert_allclose(quadrature_weights(torch.tensor(x)).numpy(), trap, rtol=1e-14)
    np.testing.assert_allclose(
        quadrature_weights(torch.tensor(x), "rhs").numpy(), np.concatenate([[0], dx]), rtol=1e-14
    )
    np.testing.assert_allclose(
        quadrature_weights(torch.tensor(x), "lhs").numpy(), np.concatenate([dx, [0]]), rtol=1e-14
    )


@given(st.integers(3, 30), st.integers(0, 2**32 - 1))
def test_simpson_matches_scipy_on_nonuniform_grids(n, seed):
    x = _grid(np.random.default_rng(seed), n) + np.arange(n) * 0.05  # keep Δx away from 0
    w = quadrature_weights(torch.tensor(x), "simpson").numpy()
    ref = np.array([simpson(e, x=x) for e in np.eye(n)])
    np.testing.assert_allclose(w, ref, rtol=1e-11, atol=1e-13 * np.abs(ref).max())


def test_exactness_on_polynomials():
    x = torch.tensor(np.sort(np.random.default_rng(0).uniform(0, 2, 9)), dtype=F64)
    lin = 3 * x - 1
    exact_lin = (1.5 * x[-1] ** 2 - x[-1]) - (1.5 * x[0] ** 2 - x[0])
    assert abs(float(quadrature_weights(x) @ lin - exact_lin)) <= 1e-13
    # Non-uniform Simpson integrates quadratics exactly (odd and even n), uniform ones cubics.
    for n in (9, 10):
        xs = x[:n] if n <= 9 else torch.cat([x, x[-1:] + 0.3])
        q = xs**2 - xs
        exact = (xs[-1] ** 3 / 3 - xs[-1] ** 2 / 2) - (xs[0] ** 3 / 3 - xs[0] ** 2 / 2)
        assert abs(float(quadrature_weights(xs, "simpson") @ q - exact)) <= 1e-13
    xu = torch.linspace(0, 1, 11, dtype=F64)
    assert abs(float(quadrature_weights(xu, "simpson") @ xu**3) - 0.25) <= 1e-14


@pytest.mark.parametrize(("rule", "order"), [("rhs", 1), ("trapezoid", 2), ("simpson", 4)])
def test_convergence_order_on_a_smooth_nonuniform_family(rule, order):
    # A smooth non-uniform map of a uniform grid; integrand exp(sin 3x) on [0, 1].
    ns = np.array([17, 33, 65, 129, 257])
    fine = np.linspace(0, 1, 200_001)
    exact = simpson(np.exp(np.sin(3 * fine)), x=fine)
    errs = []
    for n in ns:
        s = np.linspace(0, 1, n)
        x = torch.tensor(s + 0.1 * np.sin(np.pi * s) / np.pi, dtype=F64)
        errs.append(abs(float(quadrature_weights(x, rule) @ torch.exp(torch.sin(3 * x))) - exact))
    fit = linregress(np.log(1.0 / ns), np.log(errs))
    assert abs(fit.slope - order) < 0.15, fit.slope
    assert RULES[rule].order == order


def test_periodic_trapezoid_is_spectrally_accurate():
    x = torch.linspace(0, 2 * np.pi, 33, dtype=F64)
    assert abs(float(quadrature_weights(x) @ torch.sin(x) ** 2) - np.pi) <= 1e-13


def test_batched_dtype_and_custom_rule():
    x = torch.tensor(_grid(np.random.default_rng(1), 12, (3, 2)), dtype=torch.float32)
    w = quadrature_weights(x)
    assert w.shape == (3, 2, 12) and w.dtype == torch.float32
    for idx in np.ndindex(3, 2):
        torch.testing.assert_close(w[idx], quadrature_weights(x[idx]))
    mid = IntervalRule("half", min_points=2, order=2, left=0.5, right=0.5)
    assert isinstance(mid, QuadratureRule)
    torch.testing.assert_close(quadrature_weights(x, mid), w)
    assert float(quadrature_weights(x).sum(-1).sub(x[..., -1] - x[..., 0]).abs().max()) < 1e-6


@pytest.mark.parametrize(
    ("x", "rule", "match"),
    [
        (
            [0.0, 0.5, 0.4, 1.0],
            "trapezoid",
            r"^x: .*; unsorted \(decreasing\) points at index \(1,\)–2 ",
        ),
        ([0.0, 0.5, 0.5, 1.0], "trapezoid", r"^x: .*; repeated points at index \(1,\)–2 "),
        ([0.0, 1.0], "simpson", "x: .*n ≥ 3"),
        ([0.0, float("nan"), 1.0], "trapezoid", "x: .*finite"),
        ([0.0, 1.0], "midpoint", "rule: unknown"),
        ([0.0, 1.0], 3, "^rule: expected a name or a QuadratureRule, got int$"),
    ],
)
def test_bad_input_raises(x, rule, match):
    with pytest.raises(ValueError, match=match):
        quadrature_weights(torch.tensor(x), rule)


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_weights_are_differentiable_in_the_grid(rule, dtype):
    """The docstring promises g(x) differentiable in x (a mesh moved by a learned map, a grid
    that is itself a parameter). For every interval rule Σ_i g_i(x) = x_{n−1} − x_0 (the rule
    integrates constants exactly), so ∇_x Σ g = (−1, 0, …, 0, +1) exactly; and for
    Σ g_i x_i² (exact for the 2nd-order rules only up to O(h²)) autograd must agree with central
    finite differences of the same function (gradcheck). A detached grid gives no gradient."""
    rng = np.random.default_rng(7)
    x = torch.tensor(_grid(rng, 9), dtype=dtype).requires_grad_(True)
    quadrature_weights(x, rule).sum().backward()
    expect = torch.zeros(9, dtype=dtype)
    expect[0], expect[-1] = -1.0, 1.0
    assert x.grad is not None
    atol = 1e-5 if dtype == torch.float32 else 1e-12  # Simpson: exact up to round-off
    torch.testing.assert_close(x.grad, expect, rtol=0, atol=atol)
    x64 = torch.tensor(_grid(rng, 7), dtype=torch.float64, requires_grad=True)
    c = torch.tensor(rng.normal(size=7), dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda z: quadrature_weights(z, rule) @ (c * z**2), (x64,))


def test_non_tensor_grids_are_named_in_the_error():
    with pytest.raises(ValueError, match=r"^x: cannot convert str to a tensor"):
        quadrature_weights("0, 0.5, 1")
    with pytest.raises(ValueError, match=r"^x: complex tensors"):
        quadrature_weights(torch.tensor([0.0, 0.5, 1.0], dtype=torch.complex128))


@pytest.mark.parametrize("rule", sorted(RULES))
@pytest.mark.parametrize("n", [6, 7, 10])  # even n: Simpson's last-interval correction
def test_batched_grids_equal_per_slice_for_every_rule(rule, n):
    x = torch.tensor(_grid(np.random.default_rng(n), n, (3, 2)), dtype=F64)
    w = quadrature_weights(x, rule)
    assert w.shape == (3, 2, n)
    for idx in np.ndindex(3, 2):
        torch.testing.assert_close(w[idx], quadrature_weights(x[idx], rule), rtol=0, atol=0)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_float32_grids_are_computed_in_float64(rule):
    """Returned in x's dtype but computed in float64 (the docstring): the float32 weights are
    the float64 weights of the same grid, rounded once."""
    x = torch.tensor(_grid(np.random.default_rng(3), 33), dtype=torch.float32)
    w32 = quadrature_weights(x, rule)
    assert w32.dtype == torch.float32
    torch.testing.assert_close(w32, quadrature_weights(x.double(), rule).float(), rtol=0, atol=0)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_integer_grids_give_floating_weights(rule):
    """An integer grid x_i = 0, 1, 3, 4, 7 (non-uniform) gives weights in the default floating
    dtype equal to those of the same float64 grid — not integer weights truncated to 0 or 1."""
    xi = torch.tensor([0, 1, 3, 4, 7, 8])
    for x in (xi, xi[:5]):  # even and odd n
        w = quadrature_weights(x, rule)
        assert w.dtype == torch.get_default_dtype()
        ref = quadrature_weights(x.to(F64), rule)
        torch.testing.assert_close(w, ref.to(w.dtype), rtol=1e-6, atol=0)
    # trapezoid on the integer grid: g = (Δ_1/2, (Δ_1+Δ_2)/2, ..., Δ_{n-1}/2), half-integers
    g = quadrature_weights(xi, "trapezoid")
    assert g.tolist() == [0.5, 1.5, 1.5, 2.0, 2.0, 0.5]
