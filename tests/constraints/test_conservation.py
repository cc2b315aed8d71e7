"""Tests for pcml.constraints.conservation: the exact ProbConserv update and its samples."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.distributions import Independent, MultivariateNormal, Normal

from pcml.constraints import ConservedPosterior, conserve

F64 = torch.float64


def _reference(mu, Sigma, G, b, R):
    """Slow, obviously-correct dense update with an explicit inverse, one batch index at a time.

    mu (B..., n), Sigma (B..., n, n), G (B..., m, n), b (B..., m), R (B..., m, m), all numpy float64
    and already broadcast to the same batch shape.
    """
    batch = mu.shape[:-1]
    mean = np.empty_like(mu)
    cov = np.empty_like(Sigma)
    for idx in np.ndindex(*batch):
        S = R[idx] + G[idx] @ Sigma[idx] @ G[idx].T
        K = Sigma[idx] @ G[idx].T @ np.linalg.inv(S)
        mean[idx] = mu[idx] - K @ (G[idx] @ mu[idx] - b[idx])
        cov[idx] = Sigma[idx] - K @ G[idx] @ Sigma[idx]
    return mean, cov


def _rel(a, ref):
    a = np.asarray(a, dtype=np.float64)
    return np.linalg.norm(a - ref) / np.linalg.norm(ref)


def _problem(rng, batch, n, m, dense):
    mu = rng.normal(size=(*batch, n))
    if dense:
        A = rng.normal(size=(*batch, n, n))
        Sigma = A @ np.swapaxes(A, -1, -2) / n + 0.05 * np.eye(n)
        var = None
    else:
        var = rng.uniform(0.05, 2.0, size=(*batch, n))
        Sigma = var[..., None] * np.eye(n)
    G = rng.normal(size=(batch[-1], m, n)) if batch else rng.normal(size=(m, n))
    b = rng.normal(size=(*batch, m))
    return mu, var, Sigma, G, b


@pytest.mark.parametrize(
    ("dense", "m", "noise_var"),
    list(itertools.product([False, True], [1, 2, 3, 5, 8], [0.0, 1e-8, 1.0, 1e8])),
)
def test_matches_dense_explicit_inverse(dense, m, noise_var):
    rng = np.random.default_rng(m * 7 + int(dense))
    batch, n = (2, 3), 9
    mu, var, Sigma, G, b = _problem(rng, batch, n, m, dense)
    t = torch.from_numpy
    if dense:
        post = conserve(t(mu), covariance=t(Sigma), G=t(G), b=t(b), noise_var=noise_var)
    else:
        post = conserve(t(mu), variance=t(var), G=t(G), b=t(b), noise_var=noise_var)
    Gb = np.broadcast_to(G, (*batch, m, n))
    R = np.broadcast_to(noise_var * np.eye(m), (*batch, m, m))
    ref_mean, ref_cov = _reference(mu, Sigma, Gb, b, R)
    assert post.mean.shape == (*batch, n)
    assert _rel(post.mean, ref_mean) <= 1e-10
    assert _rel(post.covariance(), ref_cov) <= 1e-10
    assert _rel(post.variance, np.diagonal(ref_cov, axis1=-2, axis2=-1)) <= 1e-10


def test_single_row_g_and_batched_b_broadcast():
    rng = np.random.default_rng(1)
    n = 11
    mu, var = rng.normal(size=(4, 1, n)), rng.uniform(0.1, 1, size=(1, 5, n))
    g, b = rng.uniform(0, 1, size=n), rng.normal(size=(4, 5))
    t = torch.from_numpy
    post = conserve(t(mu), variance=t(var), G=t(g), b=t(b))
    assert post.batch_shape == (4, 5) and post.m == 1
    mub, varb = np.broadcast_to(mu, (4, 5, n)), np.broadcast_to(var, (4, 5, n))
    ref_mean, ref_cov = _reference(
        mub,
        varb[..., None] * np.eye(n),
        np.broadcast_to(g[None], (4, 5, 1, n)),
        b[..., None],
        np.zeros((4, 5, 1, 1)),
    )
    assert _rel(post.mean, ref_mean) <= 1e-12
    assert _rel(post.covariance(), ref_cov) <= 1e-12
    # §2.3 closed form for one row: var̃ = d − d² g² / gᵀDg.
    s = (varb * g**2).sum(-1, keepdims=True)
    assert np.allclose(post.variance.numpy(), varb - varb**2 * g**2 / s, rtol=1e-13, atol=0)


def test_noise_cov_general_R_and_isotropic_equivalence():
    rng = np.random.default_rng(2)
    n, m = 8, 3
    mu, var, Sigma, G, b = _problem(rng, (), n, m, dense=False)
    B = rng.normal(size=(m, m))
    R = B @ B.T + 0.1 * np.eye(m)
    t = torch.from_numpy
    post = conserve(t(mu), variance=t(var), G=t(G), b=t(b), noise_cov=t(R))
    ref_mean, ref_cov = _reference(mu, Sigma, G, b, R)
    assert _rel(post.mean, ref_mean) <= 1e-12 and _rel(post.covariance(), ref_cov) <= 1e-12
    iso = conserve(t(mu), variance=t(var), G=t(G), b=t(b), noise_var=0.7)
    viacov = conserve(
        t(mu), variance=t(var), G=t(G), b=t(b), noise_cov=0.7 * torch.eye(m, dtype=F64)
    )
    torch.testing.assert_close(iso.mean, viacov.mean, rtol=1e-14, atol=1e-14)
    # The original's ones(m, m) noise term (defect 12.7) is a different, wrong model for m > 1.
    ones = _reference(mu, Sigma, G, b, 0.7 * np.ones((m, m)))[0]
    assert _rel(iso.mean, ones) > 1e-3


@st.composite
def _random_problem(draw):
    n = draw(st.integers(2, 12))
    m = draw(st.integers(1, min(3, n - 1)))
    batch = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    dense = draw(st.booleans())
    scale = 10.0 ** draw(st.integers(-3, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mu, var, Sigma, G, b = _problem(rng, batch, n, m, dense)
    return mu * scale, var, Sigma, G, b * scale, dense


def _post(mu, var, Sigma, G, b, dense, noise_var=0.0):
    t = torch.from_numpy
    if dense:
        return conserve(t(mu), covariance=t(Sigma), G=t(G), b=t(b), noise_var=noise_var)
    return conserve(t(mu), variance=t(var), G=t(G), b=t(b), noise_var=noise_var)


@given(_random_problem())
def test_hard_constraint_holds_for_mean_and_every_sample(problem):
    mu, var, Sigma, G, b, dense = problem
    post = _post(mu, var, Sigma, G, b, dense)
    Gt, bt = torch.from_numpy(G), torch.from_numpy(b)
    absG = Gt.abs()
    res = post.constraint_residual()
    scale = bt.abs() + torch.einsum("...kn,...n->...k", absG, torch.from_numpy(np.abs(mu)))
    assert bool((res.abs() <= 1e-12 * scale).all())
    y = post.sample((64,), generator=torch.Generator().manual_seed(0))
    assert y.shape == (64, *post.batch_shape, post.n)
    res_y = torch.einsum("...kn,s...n->s...k", Gt, y) - bt
    scale_y = bt.abs() + torch.einsum("...kn,s...n->s...k", absG, y.abs())
    assert bool((res_y.abs() <= 1e-12 * scale_y).all())


@given(_random_problem(), st.sampled_from([0.0, 1e-4, 1.0, 1e4]))
def test_variance_never_increases(problem, noise_var):
    mu, var, Sigma, G, b, dense = problem
    post = _post(mu, var, Sigma, G, b, dense, noise_var)
    prior_var = np.diagonal(Sigma, axis1=-2, axis2=-1)
    v = post.variance.numpy()
    assert np.all(v <= prior_var) and np.all(v >= 0)
    np.testing.assert_allclose(
        v, np.diagonal(post.covariance().numpy(), axis1=-2, axis2=-1), rtol=0, atol=1e-12
    )


@given(_random_problem())
def test_infinite_noise_returns_prior(problem):
    mu, var, Sigma, G, b, dense = problem
    post = _post(mu, var, Sigma, G, b, dense, noise_var=1e300)
    np.testing.assert_allclose(post.mean.numpy(), np.broadcast_to(mu, post.mean.shape), rtol=1e-12)
    np.testing.assert_allclose(
        post.covariance().numpy(),
        np.broadcast_to(Sigma, post.covariance().shape),
        rtol=1e-12,
        atol=1e-12 * np.abs(Sigma).max(),
    )


@pytest.mark.parametrize(("dense", "noise_var"), [(False, 0.0), (False, 0.5), (True, 0.0)])
def test_sample_moments_match_within_five_standard_errors(dense, noise_var):
    rng = np.random.default_rng(3)
    n, m, N = 5, 2, 100_000
    mu, var, Sigma, G, b = _problem(rng, (), n, m, dense)
    post = _post(mu, var, Sigma, G, b, dense, noise_var)
    y = post.sample((N,), generator=torch.Generator().manual_seed(1)).numpy()
    mean, cov = post.mean.numpy(), post.covariance().numpy()
    se_mean = np.sqrt(np.diag(cov) / N)
    assert np.all(np.abs(y.mean(0) - mean) <= 5 * se_mean + 1e-12)
    emp = np.cov(y.T, bias=True)
    # For Gaussian data Var(x_i x_j) = Σ_ii Σ_jj + Σ_ij², so the standard error of each entry is:
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / N)
    assert np.all(np.abs(emp - cov) <= 5 * se_cov + 1e-12)
    # The posterior is not the prior (so the test fails if sampling ignored G).
    assert np.all(np.diag(cov) < np.diag(Sigma))


def test_gradcheck_diagonal_and_dense():
    rng = np.random.default_rng(4)
    n, m = 5, 2
    t = lambda a: torch.tensor(a, dtype=F64, requires_grad=True)  # noqa: E731
    mu, logd, G, b = (
        t(rng.normal(size=n)),
        t(rng.normal(size=n)),
        t(rng.normal(size=(m, n))),
        t(rng.normal(size=m)),
    )
    nv = t(0.3)
    A = t(rng.normal(size=(n, n)))

    def diag(mu, logd, G, b, nv):
        p = conserve(mu, variance=logd.exp(), G=G, b=b, noise_var=nv)
        y = p.rsample((3,), generator=torch.Generator().manual_seed(0))
        return p.mean, p.variance, p.covariance(), y

    def dense(mu, A, G, b):
        p = conserve(mu, covariance=A @ A.T + torch.eye(n, dtype=F64), G=G, b=b)
        return p.mean, p.variance, p.rsample((2,), generator=torch.Generator().manual_seed(0))

    assert torch.autograd.gradcheck(diag, (mu, logd, G, b, nv))
    assert torch.autograd.gradcheck(dense, (mu, A, G, b))


def test_float32_in_float32_out_computed_in_float64():
    rng = np.random.default_rng(5)
    mu, var, _, G, b = _problem(rng, (3,), 20, 2, dense=False)
    p32 = conserve(
        torch.tensor(mu, dtype=torch.float32),
        variance=torch.tensor(var, dtype=torch.float32),
        G=torch.tensor(G, dtype=torch.float32),
        b=torch.tensor(b, dtype=torch.float32),
    )
    assert p32.mean.dtype == torch.float32 and p32.variance.dtype == torch.float32
    assert p32.sample((2,)).dtype == torch.float32 and p32.covariance().dtype == torch.float32
    p64 = conserve(
        torch.tensor(mu, dtype=torch.float32).double(),
        variance=torch.tensor(var, dtype=torch.float32).double(),
        G=torch.tensor(G, dtype=torch.float32).double(),
        b=torch.tensor(b, dtype=torch.float32).double(),
    )
    torch.testing.assert_close(p32.mean, p64.mean.float(), rtol=0, atol=0)
    # inside, the float32 numbers are promoted exactly and every step runs in float64
    assert p32.mean64.dtype == F64
    torch.testing.assert_close(p32.mean64, p64.mean64, rtol=1e-13, atol=1e-13)


def test_distribution_priors_match_tensor_path():
    gpytorch = pytest.importorskip("gpytorch")
    rng = np.random.default_rng(6)
    mu, _, Sigma, G, b = _problem(rng, (2,), 6, 1, dense=True)
    t = torch.from_numpy
    ref = conserve(t(mu), covariance=t(Sigma), G=t(G), b=t(b))
    for prior in (
        MultivariateNormal(t(mu), t(Sigma)),
        gpytorch.distributions.MultivariateNormal(t(mu), t(Sigma)),
    ):
        post = conserve(prior, G=t(G), b=t(b))
        assert not post.is_diagonal
        torch.testing.assert_close(post.mean, ref.mean, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(post.covariance(), ref.covariance(), rtol=1e-12, atol=1e-13)
    dvar = rng.uniform(0.1, 1, size=(2, 6))
    ref_d = conserve(t(mu), variance=t(dvar), G=t(G), b=t(b))
    for prior in (Normal(t(mu), t(dvar).sqrt()), Independent(Normal(t(mu), t(dvar).sqrt()), 1)):
        post = conserve(prior, G=t(G), b=t(b))
        assert post.is_diagonal
        torch.testing.assert_close(post.mean, ref_d.mean, rtol=1e-13, atol=1e-13)
    assert isinstance(post, ConservedPosterior) and "n=6" in repr(post)


def _bad_inputs():
    n = 4
    mu, var, G, b = torch.zeros(n), torch.ones(n), torch.ones(2, n), torch.ones(2)
    G[1, 0] = 2.0
    nonspd = torch.diag(torch.tensor([1.0, 1.0, -1.0, 1.0]))
    asym = torch.eye(n)
    asym[0, 1] = 0.5
    dep = torch.stack([torch.arange(1.0, n + 1), 2 * torch.arange(1.0, n + 1)])
    nan_mu = mu.clone()
    nan_mu[2] = float("nan")
    inf_var = var.clone()
    inf_var[0] = float("inf")
    neg_var = var.clone()
    neg_var[1] = -1e-3
    V = {"variance": var}
    return [
        ("mean", dict(mean=nan_mu, **V, G=G, b=b)),
        ("variance", dict(mean=mu, variance=inf_var, G=G, b=b)),
        ("variance", dict(mean=mu, variance=neg_var, G=G, b=b)),
        ("covariance", dict(mean=mu, covariance=nonspd, G=G, b=b)),
        ("covariance", dict(mean=mu, covariance=asym, G=G, b=b)),
        ("covariance", dict(mean=mu, covariance=torch.eye(n + 1), G=G, b=b)),
        ("variance", dict(mean=mu, variance=torch.ones(n + 1), G=G, b=b)),
        ("G", dict(mean=mu, **V, G=torch.ones(2, n + 1), b=b)),
        ("G", dict(mean=mu, **V, G=dep, b=b)),
        ("G", dict(mean=mu, variance=torch.tensor([1.0, 1.0, 0.0, 0.0]), G=torch.eye(n)[2:], b=b)),
        ("G", dict(mean=mu, **V, G=torch.tensor([1.0, float("inf"), 0, 0]), b=1.0)),
        ("b", dict(mean=mu, **V, G=G, b=torch.ones(3))),
        ("b", dict(mean=mu, **V, G=G, b=torch.tensor([0.0, float("nan")]))),
        ("batch", dict(mean=torch.zeros(3, n), **V, G=G, b=torch.ones(4, 2))),
        ("noise_var", dict(mean=mu, **V, G=G, b=b, noise_var=-1.0)),
        ("noise_var", dict(mean=mu, **V, G=G, b=b, noise_var=float("nan"))),
        ("noise_cov", dict(mean=mu, **V, G=G, b=b, noise_cov=-torch.eye(2))),
        ("noise_cov", dict(mean=mu, **V, G=G, b=b, noise_cov=torch.eye(3))),
        (
            "noise_var, noise_cov",
            dict(mean=mu, **V, G=G, b=b, noise_var=1.0, noise_cov=torch.eye(2)),
        ),
        ("variance, covariance", dict(mean=mu, G=G, b=b)),
        ("variance, covariance", dict(mean=mu, variance=var, covariance=torch.eye(n), G=G, b=b)),
        ("mean", dict(mean=torch.distributions.Uniform(0.0, 1.0), G=G, b=b)),
        ("G", dict(mean=mu, **V, G="rows", b=b)),
        ("G", dict(mean=mu, **V, G=G.to(torch.complex64), b=b)),
        ("b", dict(mean=mu, **V, G=G, b="sums")),
        ("noise_var", dict(mean=mu, **V, G=G, b=b, noise_var="small")),
        ("noise_cov", dict(mean=mu, **V, G=G, b=b, noise_cov="identity")),
        ("noise_cov", dict(mean=mu, **V, G=G, b=b, noise_cov=torch.full((2, 2), float("nan")))),
        ("noise_cov", dict(mean=mu, **V, G=G, b=b, noise_cov=torch.tensor([[1.0, 0.5], [0, 1]]))),
    ]


@pytest.mark.parametrize(("name", "kwargs"), _bad_inputs())
def test_bad_input_raises_value_error_naming_argument(name, kwargs):
    kwargs = dict(kwargs)  # the parametrize dicts are shared between runs (mutmut runs twice)
    # the message starts with the argument's name (not merely contains it)
    with pytest.raises(ValueError, match="^" + re.escape(name) + "[: ]"):
        conserve(kwargs.pop("mean"), **kwargs)


def test_dependent_rows_are_fine_with_noise():
    row = torch.arange(1.0, 5.0, dtype=F64)
    G = torch.stack([row, 2 * row])
    post = conserve(
        torch.zeros(4, dtype=F64),
        variance=torch.ones(4, dtype=F64),
        G=G,
        b=torch.tensor([1.0, 2.0], dtype=F64),
        noise_var=1.0,
    )
    assert torch.isfinite(post.mean).all() and torch.isfinite(post.variance).all()


def test_zero_variance_entries_stay_fixed():
    mu = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64)
    var = torch.tensor([0.0, 1.0, 2.0, 0.0], dtype=F64)
    post = conserve(mu, variance=var, G=torch.ones(4, dtype=F64), b=5.0)
    assert post.mean[0] == 1.0 and post.mean[3] == 4.0 and post.variance[0] == 0.0
    assert abs(float(post.mean.sum()) - 5.0) <= 1e-14
    y = post.sample((10,))
    assert bool((y[:, 0] == 1.0).all())


def test_error_messages_name_the_row_the_batch_index_and_the_cause():
    """Each refusal says which row and which batch entry failed and why, verbatim."""
    n = 5
    zero, ones = torch.zeros(n, dtype=F64), torch.ones(n, dtype=F64)
    G = torch.ones(2, 2, 3, n, dtype=F64)
    G[1, 0, 2] = 0.0
    with pytest.raises(ValueError) as err:
        conserve(zero, ones, G=G, b=torch.zeros(2, 2, 3, dtype=F64))
    assert str(err.value) == "G: row 2 is all zeros (batch index (1, 0, 2))"
    G = G[0]
    with pytest.raises(ValueError) as err:
        conserve(zero, ones, G=1.0, b=1.0)
    assert str(err.value) == "G: expected shape (n,) or (..., m, n), got a scalar"
    with pytest.raises(ValueError) as err:
        conserve(zero, ones, G=G, b=1.0)
    assert str(err.value) == "b: expected shape (..., m) for G of shape (2, 3, 5), got ()"
    with pytest.raises(ValueError) as err:
        conserve(zero, ones, G=np.ones((2, n + 1)), b=[0.0, 1.0])
    assert str(err.value) == (
        "G: expected shape (n,) or (..., m, n) with n = 5 from mean, got (2, 6)"
    )
    with pytest.raises(ValueError) as err:
        conserve(zero, ones, G=np.ones((2, n)), b=[0.0, 1.0, 2.0])
    assert str(err.value) == (
        "b: expected shape (..., m) with m = 2 rows of G (or (...) for G of shape (n,)), got (3,)"
    )
    # one row per slice; slice (1, 1) puts weight only where its prior variance vanishes
    var = torch.ones(2, 3, n, dtype=F64)
    var[1, 1, :3] = 0.0
    g = torch.zeros(2, 3, 1, n, dtype=F64)
    g[..., 0, :3] = 1.0
    g[..., 0, 4] = 1.0
    g[1, 1, 0, 4] = 0.0
    with pytest.raises(ValueError) as err:
        conserve(zero, var, G=g, b=torch.zeros(2, 3, 1, dtype=F64))
    assert str(err.value) == (
        "G: S = R + G Σ Gᵀ is singular (condition number inf at batch index (1, 1, 0)): "
        "row supported only where the prior variance vanishes, with zero noise"
    )
    with pytest.raises(ValueError) as err:
        conserve(torch.zeros(3, n, dtype=F64), ones, G=G[0, :2], b=torch.ones(4, 2, dtype=F64))
    assert str(err.value) == (
        "batch dimensions do not broadcast: mean batch (3,), variance batch (), G batch (), "
        "b batch (4,), noise_var batch ()"
    )
    with pytest.raises(ValueError) as err:
        conserve(torch.full((n,), 1e308, dtype=F64), ones, G=ones, b=-1e308)
    assert str(err.value) == (
        "mean: the conditioned mean overflows float64 (|G μ − b| too large for the "
        "representable range); rescale the problem"
    )
    with pytest.raises(ValueError, match=r"^b \(divided by the row norms of G\): expected finite"):
        conserve(zero, ones, G=ones * 1e-300, b=1e300)
    with pytest.raises(ValueError) as err:
        big = 1e308 * torch.eye(2, dtype=F64)
        conserve(zero, ones, G=G[0, :2], b=torch.ones(2, dtype=F64), noise_cov=big)
    assert str(err.value).startswith(
        "noise_cov (scaled by the rows of G and the prior scale): expected finite values"
    )


def test_condition_number_refusal_reports_the_value_and_the_slice():
    """Rows 1, 1 + δv (v ⟂ 1, |v_i| = 1) and a third one under Σ = I, δ = 1e-6: cond(S') of the
    Jacobi-scaled S' (about 8/δ²) is reported as the ratio of its extreme eigenvalues, with the
    batch index of the slice (batch (3, 1): slices 0 and 1 are well conditioned)."""
    n, delta = 4, 1e-6
    ones = torch.ones(n, dtype=F64)
    v = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=F64)
    third = torch.tensor([1.0, 2.0, 4.0, 3.0], dtype=F64)
    G = torch.stack([ones, torch.arange(1.0, n + 1, dtype=F64), third]).expand(3, 1, 3, n).clone()
    G[2, 0, 1] = ones + delta * v
    with pytest.raises(ValueError) as err:
        conserve(torch.zeros(n, dtype=F64), ones, G=G, b=torch.zeros(3, 1, 3, dtype=F64))
    msg = str(err.value)
    head = "G: the scaled constraint system S = R + G Σ Gᵀ has condition number "
    assert msg.startswith(head)
    value, rest = msg[len(head) :].split(" ", 1)
    g = G[2, 0].numpy() / np.abs(G[2, 0].numpy()).max(-1, keepdims=True)
    A = g @ g.T
    ev = np.linalg.eigvalsh(A / np.sqrt(np.outer(np.diag(A), np.diag(A))))
    assert 1e12 < ev[-1] / ev[0] < 1e14 and ev[-1] / ev[-2] > 2
    assert abs(float(value) / (ev[-1] / ev[0]) - 1.0) <= 0.01
    assert rest == (
        "> 1e+12 (at batch index (2, 0)): the rows of G are (nearly) linearly dependent, or G is "
        "supported only where the prior variance vanishes, and the noise (noise_var / "
        "noise_cov) is zero or negligible on them"
    )


def test_cholesky_names_the_slice_that_is_not_positive_definite():
    """The last guard of the scaled system (unreachable through conserve's own S', kept for
    safety): a non-positive-definite slice is named by its batch index, others pass."""
    from pcml.constraints.conservation import _cholesky

    S = torch.tensor([[[4.0]], [[-1.0]], [[1.0]]], dtype=F64)
    with pytest.raises(ValueError) as err:
        _cholesky(S)
    assert str(err.value) == (
        "G: S = R + G Σ Gᵀ is not positive definite (batch index (1,)); "
        "is the prior covariance positive semi-definite? (check with validate='full')"
    )
    L = _cholesky(S[::2])
    torch.testing.assert_close(L, torch.tensor([[[2.0]], [[1.0]]], dtype=F64), rtol=0, atol=0)
    A = torch.tensor([[4.0, 2.0], [2.0, 5.0]], dtype=F64)
    torch.testing.assert_close(_cholesky(A), torch.linalg.cholesky(A), rtol=0, atol=0)


def test_batch_mixing_zero_and_positive_noise_is_exact_slice_by_slice():
    """noise_var (B,) with zeros and positives: hard slices meet G μ̃ = b, soft ones equal the
    dense update with R = σ_G² I, all against the explicit-inverse reference."""
    rng = np.random.default_rng(17)
    batch, n, m = (4,), 7, 2
    mu, var, Sigma, G, b = _problem(rng, batch, n, m, dense=False)
    G = G * np.array([1.0, 30.0])[:, None]  # unequal row norms
    nv = np.array([0.0, 0.3, 0.0, 2.5])
    t = torch.from_numpy
    post = conserve(t(mu), variance=t(var), G=t(G), b=t(b), noise_var=t(nv))
    R = nv[:, None, None] * np.eye(m)
    ref_mean, ref_cov = _reference(mu, Sigma, np.broadcast_to(G, (*batch, m, n)), b, R)
    assert _rel(post.mean, ref_mean) <= 1e-12
    assert _rel(post.covariance(), ref_cov) <= 1e-12
    res = np.einsum("bkn,bn->bk", G, post.mean.numpy()) - b
    assert np.abs(res[nv == 0]).max() <= 1e-12 * np.abs(b).max()
    assert np.abs(res[nv > 0]).min() > 1e-3
    # d μ̃ / d σ_G² is finite everywhere (no 0·∞ from log σ_G² of the hard slices) and equals
    # the derivative of the dense formula on the noisy slices (central differences).
    nvt = t(nv).requires_grad_(True)
    w = t(rng.normal(size=(*batch, n)))
    (conserve(t(mu), variance=t(var), G=t(G), b=t(b), noise_var=nvt).mean * w).sum().backward()
    assert bool(torch.isfinite(nvt.grad).all())
    for i in np.flatnonzero(nv > 0):
        h = 1e-6 * nv[i]
        f = [
            _reference(mu[i], Sigma[i], G[i], b[i], (nv[i] + s * h) * np.eye(m))[0] @ w[i].numpy()
            for s in (1.0, -1.0)
        ]
        assert abs(float(nvt.grad[i]) - (f[0] - f[1]) / (2 * h)) <= 1e-6 * abs(float(nvt.grad[i]))


def test_prior_scales_1e600_apart_in_one_batch_and_an_all_zero_prior():
    """The scaling is per batch entry: variances 1e-300 and 1e300 in one batch give each slice's
    own answer (the mean does not depend on a common factor of Σ, Σ̃ scales with it); a prior
    with all variances zero is returned unchanged when the constraint is noisy."""
    rng = np.random.default_rng(18)
    n, m = 6, 2
    mu, var, Sigma, G, b = _problem(rng, (), n, m, dense=False)
    ref_mean, ref_cov = _reference(mu, Sigma, G, b, np.zeros((m, m)))
    scales = np.array([1e-300, 1.0, 1e300])
    t = torch.from_numpy
    post = conserve(t(np.stack([mu] * 3)), variance=t(scales[:, None] * var), G=t(G), b=t(b))
    for i, c in enumerate(scales):
        assert _rel(post.mean[i], ref_mean) <= 1e-12
        assert _rel(post.variance[i] / c, np.diag(ref_cov)) <= 1e-12
    flat = conserve(t(mu), variance=t(np.zeros(n)), G=t(G), b=t(b), noise_var=0.5)
    assert torch.equal(flat.mean, t(mu)) and torch.equal(flat.variance, t(np.zeros(n)))


def test_float32_noise_and_a_batched_noise_cov_are_used_exactly_in_float64():
    """noise_var / noise_cov given in float32 are promoted exactly and the update (including
    symmetrising R) runs in float64; a batched R (B, m, m) is used slice by slice."""
    rng = np.random.default_rng(19)
    batch, n, m = (3,), 6, 2
    mu, var, Sigma, G, b = _problem(rng, batch, n, m, dense=False)
    t = torch.from_numpy
    nv32 = torch.tensor([0.3, 0.7, 1.3], dtype=torch.float32)
    post = conserve(t(mu), variance=t(var), G=t(G), b=t(b), noise_var=nv32)
    R = nv32.double().numpy()[:, None, None] * np.eye(m)
    ref_mean, ref_cov = _reference(mu, Sigma, G, b, R)
    assert _rel(post.mean, ref_mean) <= 1e-13 and _rel(post.covariance(), ref_cov) <= 1e-13
    # float32 R, slightly asymmetric (within float32's symmetry tolerance): the float32 sum
    # R01 + R10 = 2 + 2⁻²³ rounds to 2, the float64 one keeps it
    R32 = torch.tensor([[2.0, 1.0 + 2.0**-23], [1.0, 2.0]], dtype=torch.float32)
    Rb = torch.stack([R32, 0.5 * R32, 2.0 * R32])  # (3, m, m)
    post = conserve(t(mu), variance=t(var), G=t(G), b=t(b), noise_cov=Rb)
    R64 = Rb.double().numpy()
    ref_mean, ref_cov = _reference(mu, Sigma, G, b, 0.5 * (R64 + np.swapaxes(R64, -1, -2)))
    assert _rel(post.mean, ref_mean) <= 1e-13 and _rel(post.covariance(), ref_cov) <= 1e-13
    with pytest.raises(ValueError) as err:
        conserve(t(mu[:2]), variance=t(var[:2]), G=t(G[0]), b=t(b[:2]), noise_cov=Rb)
    assert str(err.value) == (
        "batch dimensions do not broadcast: mean batch (2,), variance batch (2,), G batch (), "
        "b batch (2,), noise_cov batch (3,)"
    )
