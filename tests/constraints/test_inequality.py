"""Tests for pcml.constraints.inequality: the mass-preserving inequality QP."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from pcml.constraints import conserve, project_inequality, quadrature_weights

F64 = torch.float64


def _A(n, kind):
    """Inequalities A u ≥ 0: u ≥ 0, or u_i − u_{i+1} ≥ 0 and u_{n−1} ≥ 0."""
    A = np.eye(n)
    if kind == "monotone":
        A[:-1, 1:] -= np.eye(n - 1)
    return A


def _brute_force(mu, Sigma, G, b, kind):
    """Exact QP min (u−μ)ᵀΣ⁻¹(u−μ), G u = b, A u ≥ 0 by enumerating active sets (tiny n only).

    The optimum is the minimiser over the affine hull of the face it lies in; so it is the best
    feasible one among all face minimisers (each an equality-constrained QP solved by KKT).
    """
    n = mu.size
    A = _A(n, kind)
    P = np.linalg.inv(Sigma)
    best, best_val = None, np.inf
    for k in range(n + 1):
        for active in itertools.combinations(range(n), k):
            C = np.vstack([G, A[list(active)]])
            # KKT: [P Cᵀ; C 0] [u; ν] = [P μ; d]
            d = np.concatenate([b, np.zeros(k)])
            K = np.block([[P, C.T], [C, np.zeros((C.shape[0], C.shape[0]))]])
            try:
                sol = np.linalg.solve(K, np.concatenate([P @ mu, d]))
            except np.linalg.LinAlgError:
                continue
            u = sol[:n]
            if np.abs(K @ sol - np.concatenate([P @ mu, d])).max() > 1e-8:
                continue
            if np.all(A @ u >= -1e-10):
                val = (u - mu) @ P @ (u - mu)
                if val < best_val - 1e-12:
                    best, best_val = u, val
    return best


def _slsqp(mu, Sigma, G, b, kind):
    P = np.linalg.inv(Sigma)
    A = _A(mu.size, kind)
    x0 = np.full(mu.size, max(b[0], 0.0) / G[0].sum())
    res = minimize(
        lambda u: (u - mu) @ P @ (u - mu),
        x0,
        jac=lambda u: 2 * P @ (u - mu),
        constraints=[
            {"type": "eq", "fun": lambda u: G @ u - b, "jac": lambda u: G},
            {"type": "ineq", "fun": lambda u: A @ u, "jac": lambda u: A},
        ],
        method="SLSQP",
        options={"ftol": 1e-12, "maxiter": 1000},
    )
    assert res.success, res.message
    return res.x


def _diag_problem(rng, batch, n):
    x = np.sort(rng.uniform(0, 1, n)) + np.arange(n) * 0.02
    g = quadrature_weights(torch.tensor(x)).numpy()
    mu = rng.normal(0.3, 1.0, size=(*batch, n))
    d = rng.uniform(0.05, 1.0, size=(*batch, n))
    b = np.asarray(rng.uniform(0.0, 1.0, size=batch) * g.sum())
    return mu, d, g, b


@pytest.mark.parametrize("kind", ["nonneg", "monotone"])
@pytest.mark.parametrize("noise_var", [0.0, 0.3])
def test_fast_path_matches_brute_force_slsqp_and_general_path(kind, noise_var):
    rng = np.random.default_rng(0)
    n = 7
    mu, d, g, b = _diag_problem(rng, (6,), n)
    t = torch.from_numpy
    post = conserve(t(mu), variance=t(d), G=t(g), b=t(b), noise_var=noise_var)
    u = project_inequality(post, kind).numpy()
    # Same prior as a dense covariance forces the general (null space + NNLS) path.
    dense = conserve(t(mu), covariance=torch.diag_embed(t(d)), G=t(g), b=t(b), noise_var=noise_var)
    u_gen = project_inequality(dense, kind).numpy()
    np.testing.assert_allclose(u_gen, u, rtol=0, atol=1e-9)
    for i in range(6):
        ref = _brute_force(mu[i], np.diag(d[i]), g[None], b[i : i + 1], kind)
        np.testing.assert_allclose(u[i], ref, rtol=0, atol=1e-9)
        np.testing.assert_allclose(
            u[i], _slsqp(mu[i], np.diag(d[i]), g[None], b[i : i + 1], kind), atol=1e-5
        )


@pytest.mark.parametrize("kind", ["nonneg", "monotone"])
def test_general_path_dense_prior_and_two_rows_matches_brute_force(kind):
    rng = np.random.default_rng(1)
    n = 6
    A = rng.normal(size=(n, n))
    Sigma = A @ A.T / n + 0.1 * np.eye(n)
    mu = rng.normal(size=n)
    G = np.vstack([np.ones(n), np.linspace(0, 1, n)])
    b = G @ np.abs(rng.normal(size=n)[np.argsort(-np.abs(rng.normal(size=n)))])
    b = G @ np.sort(np.abs(rng.normal(size=n)))[::-1]  # feasible: a non-increasing positive u
    t = torch.from_numpy
    post = conserve(t(mu), covariance=t(Sigma), G=t(G), b=t(b))
    u = project_inequality(post, kind).numpy()
    np.testing.assert_allclose(u, _brute_force(mu, Sigma, G, b, kind), atol=1e-9)
    assert np.abs(G @ u - b).max() <= 1e-12 * (np.abs(b).max() + np.abs(G) @ np.abs(u)).max()


@settings(max_examples=25)
@given(
    st.integers(2, 40),
    st.lists(st.integers(1, 3), max_size=2),
    st.integers(0, 2**32 - 1),
    st.sampled_from(["nonneg", "monotone"]),
    st.sampled_from([0.0, 1e-6, 1.0]),
)
def test_output_is_feasible_and_keeps_mass_exactly(n, batch, seed, kind, noise_var):
    rng = np.random.default_rng(seed)
    mu, d, g, b = _diag_problem(rng, tuple(batch), n)
    t = torch.from_numpy
    post = conserve(t(mu), variance=t(d), G=t(g), b=t(b), noise_var=noise_var)
    u = project_inequality(post, kind).numpy()
    assert u.shape == mu.shape
    scale = np.abs(b) + np.abs(u) @ g
    assert np.all(np.abs(u @ g - b) <= 1e-12 * scale)
    assert np.all(u >= -1e-14 * scale[..., None])
    if kind == "monotone":
        assert np.all(np.diff(u, axis=-1) <= 1e-14 * scale[..., None])
    # The result does not depend on σ_G: on {G u = b} the Σ̃-metric is the prior metric.
    hard = project_inequality(conserve(t(mu), variance=t(d), G=t(g), b=t(b)), kind).numpy()
    np.testing.assert_allclose(u, hard, rtol=0, atol=1e-10 * scale.max())


def test_already_feasible_mean_is_unchanged_at_zero_noise():
    n = 9
    g = torch.full((n,), 1.0 / n, dtype=F64)
    mu = torch.linspace(2.0, 1.0, n, dtype=F64)  # decreasing and positive
    post = conserve(mu, variance=torch.rand(n, dtype=F64) + 0.1, G=g, b=float(mu @ g))
    for kind in ("nonneg", "monotone"):
        torch.testing.assert_close(project_inequality(post, kind), post.mean, rtol=0, atol=1e-14)


def test_output_dtype_and_infeasible_and_bad_kind():
    n = 5
    post32 = conserve(
        torch.randn(3, n), variance=torch.ones(3, n), G=torch.ones(n), b=torch.ones(3)
    )
    assert project_inequality(post32).dtype == torch.float32
    neg = conserve(torch.zeros(n), variance=torch.ones(n), G=torch.ones(n), b=-1.0)
    with pytest.raises(ValueError, match="infeasible"):
        project_inequality(neg)
    # General path: rows that force u_0 + u_1 = 1 and u_0 + u_1 = −1 + 2 u_2 ... with u ≥ 0.
    G = torch.tensor([[1.0, 1.0, 0, 0, 0], [1.0, 1.0, -1.0, 0, 0]], dtype=F64)
    bad = conserve(
        torch.zeros(n, dtype=F64),
        variance=torch.ones(n, dtype=F64),
        G=G,
        b=torch.tensor([1.0, 2.0], dtype=F64),
    )
    with pytest.raises(ValueError, match="infeasible"):
        project_inequality(bad)
    with pytest.raises(ValueError, match="kind"):
        project_inequality(post32, "convex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="post"):
        project_inequality(torch.zeros(3))  # type: ignore[arg-type]
