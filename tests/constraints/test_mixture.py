"""Tests for pcml.constraints.mixture: mixture moments and exact mixture samples."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pcml.constraints import conserve, mixture_moments, sample_mixture

F64 = torch.float64


@given(
    st.integers(1, 6),
    st.lists(st.integers(1, 3), max_size=2),
    st.integers(1, 8),
    st.integers(0, 2**32 - 1),
)
def test_moments_are_the_law_of_total_variance(S, batch, n, seed):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(S, *batch, n))
    variances = rng.uniform(0, 2, size=(S, *batch, n))
    loc, var = mixture_moments(torch.from_numpy(means), torch.from_numpy(variances))
    assert loc.shape == (*batch, n)
    for idx in np.ndindex(*batch, n):
        col = (slice(None), *idx)
        m_s, v_s = means[col], variances[col]
        ref_loc = sum(m_s) / S
        ref_var = sum(v + (m - ref_loc) ** 2 for m, v in zip(m_s, v_s, strict=True)) / S
        assert abs(float(loc[idx]) - ref_loc) <= 1e-12 * (1 + abs(ref_loc))
        assert abs(float(var[idx]) - ref_var) <= 1e-12 * (1 + ref_var)
    # Defect 12.9: the between-sample spread is never dropped, whatever the batch size.
    assert bool((var >= torch.from_numpy(variances).mean(0) - 1e-15).all())


def test_single_function_batch_keeps_spread_and_single_sample_has_none():
    means = torch.tensor([[[0.0, 1.0]], [[2.0, 1.0]]], dtype=F64)  # S = 2, one function
    variances = torch.ones_like(means)
    _, var = mixture_moments(means, variances)
    torch.testing.assert_close(var, torch.tensor([[2.0, 1.0]], dtype=F64))
    loc1, var1 = mixture_moments(means[:1], variances[:1])
    torch.testing.assert_close(var1, variances[0])
    torch.testing.assert_close(loc1, means[0])


def test_bad_moment_inputs():
    with pytest.raises(ValueError, match="variances"):
        mixture_moments(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="variances"):
        mixture_moments(torch.zeros(3, 4), -torch.ones(3, 4))
    with pytest.raises(ValueError, match="means"):
        mixture_moments(torch.full((3, 4), float("nan")), torch.ones(3, 4))


def _mixture_posterior(rng, S, batch, n):
    mu = rng.normal(size=(S, *batch, n)) * np.arange(1, S + 1).reshape(S, *([1] * len(batch)), 1)
    var = rng.uniform(0.1, 1.0, size=(S, *batch, n))
    g = np.full(n, 1.0 / n)
    b = rng.normal(size=batch)
    return (
        conserve(
            torch.from_numpy(mu),
            variance=torch.from_numpy(var),
            G=torch.from_numpy(g),
            b=torch.from_numpy(b),
        ),
        g,
        b,
    )


def test_mixture_samples_match_moments_within_five_standard_errors():
    rng = np.random.default_rng(0)
    S, n, N = 3, 4, 100_000
    post, g, b = _mixture_posterior(rng, S, (2,), n)
    y = sample_mixture(post, (N,), generator=torch.Generator().manual_seed(0)).numpy()
    assert y.shape == (N, 2, n)
    assert np.all(np.abs(y @ g - b) <= 1e-12 * (np.abs(b) + np.abs(y) @ g))
    loc, var = (t.numpy() for t in mixture_moments(post.mean, post.variance))
    assert np.all(np.abs(y.mean(0) - loc) <= 5 * np.sqrt(var / N))
    # SE of the sample variance: sqrt((μ₄ − σ⁴)/N), μ₄ of the mixture from its components:
    # μ₄ = mean_s[δ_s⁴ + 6 δ_s² v_s + 3 v_s²], δ_s = μ_s − loc.
    delta, v = post.mean.numpy() - loc, post.variance.numpy()
    mu4 = (delta**4 + 6 * delta**2 * v + 3 * v**2).mean(0)
    assert np.all(np.abs(y.var(0) - var) <= 5 * np.sqrt((mu4 - var**2) / N))
    # Components are picked uniformly: a single Gaussian with the averaged covariance (the
    # original) would have a smaller variance than the mixture wherever the means spread.
    assert np.all(var > post.variance.numpy().mean(0))


@pytest.mark.parametrize("dense", [False, True])
def test_shared_axes_use_one_component(dense):
    # Components far apart with tiny variance, so each sample reveals its component.
    S, T, n = 4, 5, 3
    mu = (100.0 * torch.arange(S, dtype=F64)).reshape(S, 1, 1, 1).expand(S, 2, T, n)
    kw = (
        {"covariance": 1e-6 * torch.eye(n, dtype=F64)}
        if dense
        else {"variance": torch.full((S, 2, T, n), 1e-6, dtype=F64)}
    )
    post = conserve(
        mu,
        **kw,
        G=torch.zeros(n, dtype=F64).index_fill(0, torch.tensor([0]), 1.0),
        b=(100.0 * torch.arange(S, dtype=F64)).reshape(S, 1, 1),
        noise_var=1e-6,
    )
    gen = torch.Generator().manual_seed(1)
    comp = (sample_mixture(post, (200,), shared_ndim=1, generator=gen)[..., 1] / 100).round()
    assert bool((comp == comp[..., :1]).all())  # one component per (sample, function)
    assert comp.unique().numel() == S  # and all components occur
    indep = (sample_mixture(post, (200,), generator=gen)[..., 1] / 100).round()
    assert float((indep != indep[..., :1]).float().mean()) > 0.5  # independent draws differ


def test_sample_mixture_bad_input():
    post, _, _ = _mixture_posterior(np.random.default_rng(0), 2, (3,), 4)
    with pytest.raises(ValueError, match="shared_ndim"):
        sample_mixture(post, (2,), shared_ndim=2)
    single = conserve(torch.zeros(4), variance=torch.ones(4), G=torch.ones(4), b=1.0)
    with pytest.raises(ValueError, match="posterior"):
        sample_mixture(single, (2,))
