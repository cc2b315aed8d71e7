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
