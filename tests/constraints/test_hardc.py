"""Tests for pcml.constraints.hardc: the Euclidean projection baseline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pcml.constraints import conserve, project_mean


@given(st.integers(2, 15), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_projection_matches_explicit_formula_and_is_orthogonal(n, m, seed):
    m = min(m, n - 1)
    rng = np.random.default_rng(seed)
    mu, G, b = rng.normal(size=(2, n)), rng.normal(size=(m, n)), rng.normal(size=(2, m))
    u = project_mean(torch.from_numpy(mu), torch.from_numpy(G), torch.from_numpy(b)).numpy()
    ref = mu - (G.T @ np.linalg.inv(G @ G.T) @ (G @ mu.T - b.T)).T
    np.testing.assert_allclose(u, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    assert np.all(np.abs(u @ G.T - b) <= 1e-12 * (np.abs(b) + np.abs(mu) @ np.abs(G).T))
    # The shift lies in the row space of G (Euclidean projection), and projecting again is a no-op.
    shift = u - mu
    resid = shift - shift @ np.linalg.pinv(G) @ G
    assert np.abs(resid).max() <= 1e-10 * (np.abs(shift).max() + 1e-300)
    u2 = project_mean(torch.from_numpy(u), torch.from_numpy(G), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(u2, u, rtol=1e-12, atol=1e-12 * np.abs(u).max())


def test_equals_conserve_with_identity_covariance_and_keeps_dtype():
    mu = torch.randn(4, 10)
    g = torch.rand(10)
    out = project_mean(mu, g, torch.ones(4))
    assert out.dtype == torch.float32 and out.shape == (4, 10)
    ref = conserve(mu, covariance=torch.eye(10).expand(4, 10, 10), G=g, b=torch.ones(4)).mean
    torch.testing.assert_close(out, ref)
    # Uniform shift for one row g: u = μ − g (gᵀμ − b)/‖g‖².
    ref2 = mu - g * ((mu @ g - 1) / (g @ g))[:, None]
    torch.testing.assert_close(out, ref2, rtol=1e-5, atol=1e-5)


def test_dependent_rows_raise():
    with pytest.raises(ValueError, match="G"):
        project_mean(torch.zeros(3), torch.ones(2, 3), torch.ones(2))
