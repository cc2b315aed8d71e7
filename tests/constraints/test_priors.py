"""Reading a prior (pcml.constraints._priors): float32 priors of every kind are conditioned in
float64, linear_operator subclasses are recognised as operators, bad covariances are named."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch.distributions import LowRankMultivariateNormal, MultivariateNormal, Normal

from pcml.constraints import conserve, project_inequality

F64 = torch.float64
gpytorch = pytest.importorskip("gpytorch")
lo = pytest.importorskip("linear_operator.operators")

N, K = 6, 2


def _data():
    rng = np.random.default_rng(11)
    mu = torch.from_numpy(rng.normal(size=N))
    d = torch.from_numpy(rng.uniform(0.3, 1.0, size=N))
    U = torch.from_numpy(rng.normal(size=(N, K)) * 0.7)
    G = torch.from_numpy(rng.normal(size=(2, N)))
    b = torch.from_numpy(rng.normal(size=2))
    return mu, d, U, G, b


def _priors(mu, d, U, full, tril):
    """The same N(μ, Σ) in each accepted form, Σ = full = diag(d) + U Uᵀ (or diag(d))."""
    return {
        "normal": (Normal(mu, d.sqrt()),),
        "lowrank": (LowRankMultivariateNormal(mu, U, d),),
        "mvn": (MultivariateNormal(mu, scale_tril=tril),),
        "gp_dense": (gpytorch.distributions.MultivariateNormal(mu, full),),
        "op_diag": (mu, None, lo.DiagLinearOperator(d)),
        "op_dense": (mu, None, lo.DenseLinearOperator(full)),
        "op_lowrank": (mu, None, lo.LowRankRootLinearOperator(U) + lo.DiagLinearOperator(d)),
    }


@pytest.mark.parametrize(
    "kind", ["normal", "lowrank", "mvn", "gp_dense", "op_diag", "op_dense", "op_lowrank"]
)
def test_float32_priors_are_conditioned_in_float64(kind):
    """A float32 prior gives the float64 posterior rounded once at the end: mean64 is the float64
    update of the float32 numbers (to 1e-12), not a float32 computation (errors ≈ 1e-7)."""
    mu, d, U, G, b = _data()
    full = torch.diag(d) + U @ U.T
    leaves = [mu, d, U, full, torch.linalg.cholesky(full)]
    p32 = _priors(*(t.float() for t in leaves))[kind]
    p64 = _priors(*(t.float().double() for t in leaves))[kind]
    if kind == "normal":
        p32 = (Normal(mu.float(), d.sqrt().float()),)
        p64 = (Normal(mu.float().double(), d.sqrt().float().double()),)
    if kind == "gp_dense":  # GPyTorch factors a dense tensor itself, in its dtype: use its factor
        p64 = (MultivariateNormal(mu.float().double(), scale_tril=p32[0].scale_tril.double()),)
    post32 = conserve(*p32, G=G, b=b)
    post64 = conserve(*p64, G=G, b=b)
    assert post32.mean.dtype == torch.float32
    torch.testing.assert_close(post32.mean64, post64.mean64, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        post32.covariance_matrix.double(), post64.covariance_matrix.float().double()
    )
    y = post64.sample((3,), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(post32.log_prob(y).double(), post64.log_prob(y), rtol=1e-6, atol=0)


class _MyDense(lo.DenseLinearOperator):
    """A user's subclass, defined outside the linear_operator package."""


def test_linear_operator_subclasses_are_operators():
    mu, d, U, G, b = _data()
    full = torch.diag(d) + U @ U.T
    post = conserve(mu, covariance=_MyDense(full), G=G, b=b)
    ref = conserve(mu, covariance=full, G=G, b=b)
    torch.testing.assert_close(post.mean, ref.mean, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(post.covariance_matrix, ref.covariance_matrix)


def test_lowrank_prior_inequality_projection_uses_its_dense_factor():
    """project_inequality with a low-rank prior (dense factor built on request) equals the same
    prior given densely."""
    mu, d, U, _, _ = _data()
    g = torch.full((N,), 1.0 / N, dtype=F64)
    full = torch.diag(d) + U @ U.T
    lowrank = conserve(LowRankMultivariateNormal(mu, U, d), G=g, b=0.5)
    dense = conserve(mu, covariance=full, G=g, b=0.5)
    for kind in ("nonneg", "monotone"):
        torch.testing.assert_close(
            project_inequality(lowrank, kind), project_inequality(dense, kind), rtol=0, atol=1e-10
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"covariance": "abc"}, "covariance: cannot convert str to a tensor"),
        (
            {"covariance": torch.full((N, N), float("nan"), dtype=F64)},
            "covariance: expected finite values",
        ),
        (
            {"covariance": torch.triu(torch.ones(N, N, dtype=F64))},
            "covariance: expected a symmetric matrix",
        ),
        (
            {"covariance": lo.DiagLinearOperator(torch.ones(2, N + 1, dtype=F64))},
            f"covariance: expected shape (..., n, n) with n = {N} from mean, "
            f"got (2, {N + 1}, {N + 1})",
        ),
        (
            {"covariance": lo.DiagLinearOperator(-torch.ones(N, dtype=F64))},
            "covariance (diagonal): expected non-negative values",
        ),
        (
            {"covariance": lo.DenseLinearOperator(torch.diag(-torch.ones(N, dtype=F64)))},
            "covariance (diagonal): expected non-negative values",
        ),
    ],
)
def test_bad_covariances_are_named(kwargs, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        conserve(torch.zeros(N, dtype=F64), G=torch.ones(N, dtype=F64), b=1.0, **kwargs)


def test_singular_priors_are_named_when_a_density_is_asked_for():
    zero = torch.tensor([0.0, *([1.0] * (N - 1))], dtype=F64)
    cases = {
        "mean.scale": Normal(torch.zeros(N, dtype=F64), zero, validate_args=False),
        "covariance": gpytorch.distributions.MultivariateNormal(
            torch.zeros(N, dtype=F64), lo.DiagLinearOperator(zero)
        ),
    }
    for name, prior in cases.items():
        post = conserve(prior, G=torch.ones(N, dtype=F64), b=1.0, noise_var=0.1)
        with pytest.raises(
            ValueError,
            match=f"^{re.escape(name)}: log_prob/entropy need a non-singular prior covariance Σ, "
            "but it has zero variances; mean, variance, covariance_matrix and rsample do not$",
        ):
            post.entropy()
        assert bool(torch.isfinite(post.sample((2,))).all())  # draws do not need Σ⁻¹


@pytest.mark.parametrize("kind", ["diag", "dense", "dense_singular", "lowrank", "op_dense"])
def test_validate_full_gives_the_same_posterior_as_cheap(kind):
    """validate="full" only adds the PSD check (and keeps its factor for a dense Σ): mean, Σ̃,
    draws with one generator and densities equal those of validate="cheap" and the dense formula;
    a singular dense Σ (u_0 fixed) still draws on {G u = b} and refuses densities by name."""
    mu, d, U, G, b = _data()
    full = torch.diag(d) + U @ U.T
    if kind == "dense_singular":  # u_0 fixed: row and column 0 of Σ exactly zero
        d0, U0 = d.clone(), U.clone()
        d0[0], U0[0] = 0.0, 0.0
        full = torch.diag(d0) + U0 @ U0.T
    prior = {
        "diag": (mu, d),
        "dense": (mu, None, full),
        "dense_singular": (mu, None, full),
        "lowrank": (LowRankMultivariateNormal(mu, U, d),),
        "op_dense": (mu, None, lo.DenseLinearOperator(full)),
    }[kind]
    Sigma = torch.diag(d) if kind == "diag" else full
    S = G @ Sigma @ G.T
    K_gain = Sigma @ G.T @ torch.linalg.inv(S)
    ref_mean, ref_cov = mu - K_gain @ (G @ mu - b), Sigma - K_gain @ G @ Sigma
    posts = [
        conserve(*prior, G=G, b=b, noise_var=nv, validate=v)
        for v in ("cheap", "full")
        for nv in (0.0, 0.2)
    ]
    hard_c, soft_c, hard_f, soft_f = posts
    torch.testing.assert_close(hard_f.mean, ref_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(hard_f.covariance_matrix, ref_cov, rtol=1e-11, atol=1e-12)
    for cheap, fullv in ((hard_c, hard_f), (soft_c, soft_f)):
        torch.testing.assert_close(fullv.mean, cheap.mean, rtol=1e-13, atol=1e-13)
        torch.testing.assert_close(fullv.variance, cheap.variance, rtol=1e-12, atol=1e-13)
        y = cheap.sample((3,), generator=torch.Generator().manual_seed(4))
        # one generator, the same number of normals: the draws agree up to the choice of factor,
        # so compare their distribution-free facts: constraint and the density of cheap's draws
        yf = fullv.sample((3,), generator=torch.Generator().manual_seed(4))
        assert yf.shape == y.shape
        if fullv.is_degenerate:
            assert float((yf @ G.T - b).abs().max()) <= 1e-12
        if kind == "dense_singular":
            for post in (cheap, fullv):
                with pytest.raises(ValueError, match=r"^covariance: log_prob/entropy need a non-"):
                    post.log_prob(y)
        else:
            torch.testing.assert_close(fullv.log_prob(y), cheap.log_prob(y), rtol=1e-10, atol=0)
    if kind == "dense_singular":
        # the draws of the noisy posterior have covariance Σ̃ (rank n − 1 prior, eigh factor)
        y = soft_f.sample((20000,), generator=torch.Generator().manual_seed(5))
        emp = torch.cov(y.T)
        err = (emp - soft_f.covariance_matrix).abs().max()
        assert float(err) <= 0.05 * float(soft_f.covariance_matrix.abs().max())


def test_read_prior_messages_and_a_single_unknown():
    """The prior's refusals verbatim (a distribution plus a variance, an empty or 0-d mean, a
    mean or variance that is not numeric), and n = 1 is a valid problem: u = b / g exactly."""
    z = torch.zeros(N, dtype=F64)
    normal = Normal(z, torch.ones(N, dtype=F64))
    cases = [
        (
            (normal, torch.ones(N), None),
            "variance/covariance: must be None when mean is a distribution",
        ),
        (
            (normal, None, torch.eye(N)),
            "variance/covariance: must be None when mean is a distribution",
        ),
        (
            (torch.tensor(1.0), torch.ones(1), None),
            "mean: expected shape (..., n) with n ≥ 1, got ()",
        ),
        (
            (torch.zeros(0), torch.ones(0), None),
            "mean: expected shape (..., n) with n ≥ 1, got (0,)",
        ),
        (("zero", torch.ones(N), None), "mean: cannot convert str to a tensor"),
        ((z, "ones", None), "variance: cannot convert str to a tensor"),
    ]
    for (mean, var, cov), message in cases:
        with pytest.raises(ValueError) as err:
            conserve(mean, var, cov, G=torch.ones(N, dtype=F64), b=1.0)
        assert str(err.value) == message
    post = conserve(torch.tensor([0.3], dtype=F64), torch.tensor([2.0], dtype=F64), G=[4.0], b=1.0)
    assert float(post.mean) == 0.25 and float(post.variance) == 0.0


def test_low_rank_prior_with_a_zero_diagonal_is_named_covariance():
    """Σ = diag(d) + U Uᵀ with a zero in d (a linear_operator sum): draws work, densities
    refuse with the message naming ``covariance`` (the structure is rescaled inside conserve)."""
    mu, d, U, G, b = _data()
    d0 = d.clone()
    d0[2] = 0.0
    priors = ((mu, None, lo.LowRankRootLinearOperator(U) + lo.DiagLinearOperator(d0)),)
    for prior in priors:
        post = conserve(*prior, G=G, b=b, noise_var=0.1)
        assert bool(torch.isfinite(post.sample((2,))).all())
        with pytest.raises(ValueError) as err:
            post.entropy()
        assert str(err.value) == (
            "covariance: log_prob/entropy need a non-singular prior covariance Σ, but its "
            "diagonal part has zeros; mean, variance, covariance_matrix and rsample do not"
        )


@pytest.mark.parametrize("validate", ["cheap", "full"])
def test_singular_prior_densities_refused_by_name_after_map_tensors(validate):
    """A singular dense Σ (u_0 fixed) keeps refusing densities by name after ``map_tensors``
    (which carries its eigen factor, not a Cholesky factor): the same ValueError as before the
    map, not torch's LinAlgError — and not a number from treating the eigen factor as
    triangular (``validate="full"`` stores whether its factor is lower triangular). The map
    itself keeps the posterior: mean, variance and draws on {G u = b}."""
    g = torch.Generator().manual_seed(7)
    n = 6
    mu = torch.randn(n, generator=g, dtype=torch.float64)
    U = torch.randn(n, 3, generator=g, dtype=torch.float64)
    d = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
    d[0], U[0] = 0.0, 0.0
    full = torch.diag(d) + U @ U.T
    G = torch.ones(1, n, dtype=torch.float64)
    b = torch.tensor([1.0], dtype=torch.float64)
    post = conserve(mu, None, full, G=G, b=b, noise_var=0.0, validate=validate)
    mapped = post.map_tensors(lambda t, tail: t)
    torch.testing.assert_close(mapped.mean, post.mean, rtol=0, atol=0)
    torch.testing.assert_close(mapped.variance, post.variance, rtol=1e-14, atol=1e-15)
    y = mapped.sample((4,), generator=torch.Generator().manual_seed(1))
    assert float((y @ G.T - b).abs().max()) <= 1e-12
    assert float((y[:, 0] - post.mean[0]).abs().max()) <= 1e-12  # u_0 is fixed by Σ
    for p in (post, mapped):
        with pytest.raises(ValueError, match=r"^covariance: .*Cholesky factorisation failed"):
            p.log_prob(y)
        with pytest.raises(ValueError, match=r"^covariance: .*Cholesky factorisation failed"):
            p.entropy()
