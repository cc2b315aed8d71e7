"""Reading a prior (pcml.constraints._priors): float32 priors of every kind are conditioned in
float64, linear_operator subclasses are recognised as operators, bad covariances are named."""

from __future__ import annotations

import re
from typing import ClassVar

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
        for p in (post, post.map_tensors(lambda t, tail: t)):  # the name survives a re-index
            with pytest.raises(
                ValueError,
                match=f"^{re.escape(name)}: log_prob/entropy need a non-singular prior covariance "
                "Σ, but it has zero variances; mean, variance, covariance_matrix and rsample do "
                "not$",
            ):
                p.entropy()
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
        for p in (post, post.map_tensors(lambda t, tail: t)):  # the name survives a re-index
            with pytest.raises(ValueError) as err:
                p.entropy()
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


def test_an_unsupported_distribution_is_named_with_its_type():
    """A distribution that is not Gaussian is refused verbatim, with its own type name."""
    uniform = torch.distributions.Uniform(torch.zeros(N, dtype=F64), torch.ones(N, dtype=F64))
    with pytest.raises(ValueError) as err:
        conserve(uniform, G=torch.ones(N, dtype=F64), b=1.0)
    assert str(err.value) == (
        "mean: expected a tensor, a numpy array or a torch.distributions / GPyTorch Normal, "
        "MultivariateNormal, LowRankMultivariateNormal, got Uniform"
    )


class _LazyOnly(torch.distributions.Distribution):
    """A Gaussian that exposes only ``loc`` and a ``lazy_covariance_matrix`` (no ``islazy`` flag
    and no ``scale_tril``): read lazily, like a GPyTorch MVN built from an operator."""

    arg_constraints: ClassVar[dict] = {}

    def __init__(self, loc, op):
        self.loc, self._op = loc, op
        super().__init__(torch.Size(), torch.Size(loc.shape[-1:]), validate_args=False)

    @property
    def lazy_covariance_matrix(self):
        return self._op


def test_a_distribution_without_an_islazy_flag_is_read_lazily():
    mu, d, U, G, b = _data()
    op = lo.LowRankRootLinearOperator(U) + lo.DiagLinearOperator(d)
    post = conserve(_LazyOnly(mu, op), G=G, b=b, noise_var=0.1)
    ref = conserve(mu, covariance=torch.diag(d) + U @ U.T, G=G, b=b, noise_var=0.1)
    torch.testing.assert_close(post.mean, ref.mean, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(post.covariance_matrix, ref.covariance_matrix)
    y = ref.sample((3,), generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(post.log_prob(y), ref.log_prob(y), rtol=1e-12, atol=0)


def test_float32_low_rank_prior_near_float32_overflow_is_read_in_float64():
    """diag Σ = d + Σ_k U_ik² ≈ 4e38 exceeds float32's range although every float32 parameter
    is representable: read in float64, the posterior is the dense float64 formula."""
    rng = np.random.default_rng(3)
    n, k = 3, 4
    U = torch.from_numpy(rng.uniform(0.9, 1.1, size=(n, k)) * 1e19).float()
    d = torch.full((n,), 1e30, dtype=torch.float32)
    mu = torch.from_numpy(rng.normal(size=n) * 1e19).float()
    G = torch.tensor([[1.0, -1.0, 0.5]], dtype=F64)
    b = torch.tensor([2e19], dtype=F64)
    post = conserve(LowRankMultivariateNormal(mu, U, d), G=G, b=b)
    U64, mu64 = U.double(), mu.double()
    Sigma = torch.diag(d.double()) + U64 @ U64.T
    assert float(Sigma.diagonal().max()) > float(torch.finfo(torch.float32).max)
    gain = Sigma @ G.T @ torch.linalg.inv(G @ Sigma @ G.T)
    torch.testing.assert_close(post.mean64, mu64 - gain @ (G @ mu64 - b), rtol=1e-12, atol=0)
    assert post.mean.dtype == torch.float32


def test_lazy_low_rank_structure_batched_roots_and_a_full_rank_root():
    """diag(d) + R Rᵀ as a linear_operator: with a batched root (B, n, k), k < n, it is read as
    the low-rank structure, so the posterior can be re-indexed (mixtures); with a square root
    R (n, n) and d = 0 it is a non-singular Σ = R Rᵀ whose densities are exact (no Woodbury with
    D⁻¹ = ∞)."""
    mu, d, U, G, b = _data()
    Ub = torch.stack([U, 2.0 * U])
    db = torch.stack([d, 3.0 * d])
    mub = torch.stack([mu, -mu])
    post = conserve(
        mub, covariance=lo.LowRankRootLinearOperator(Ub) + lo.DiagLinearOperator(db), G=G, b=b
    )
    perm = torch.tensor([1, 0])
    swapped = post.map_tensors(lambda t, tail: t[perm])
    ref = conserve(
        mub[perm], covariance=torch.diag_embed(db[perm]) + Ub[perm] @ Ub[perm].mT, G=G, b=b
    )
    torch.testing.assert_close(swapped.mean, ref.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(swapped.covariance_matrix, ref.covariance_matrix)
    # square root, zero diagonal
    R = torch.from_numpy(np.random.default_rng(5).normal(size=(N, N)))
    op = lo.RootLinearOperator(R) + lo.DiagLinearOperator(torch.zeros(N, dtype=F64))
    post = conserve(mu, covariance=op, G=G, b=b, noise_var=0.3)
    Sigma = R @ R.T
    S = G @ Sigma @ G.T + 0.3 * torch.eye(2, dtype=F64)
    gain = Sigma @ G.T @ torch.linalg.inv(S)
    ref = MultivariateNormal(mu - gain @ (G @ mu - b), Sigma - gain @ G @ Sigma)
    y = ref.mean + torch.randn(4, N, generator=torch.Generator().manual_seed(6), dtype=F64)
    torch.testing.assert_close(post.log_prob(y), ref.log_prob(y), rtol=1e-10, atol=0)
    torch.testing.assert_close(post.entropy(), ref.entropy(), rtol=1e-10, atol=0)


def test_a_scale_tril_with_a_zero_pivot_refuses_densities_by_name():
    """A user's MultivariateNormal whose scale_tril has a zero on its diagonal (a singular Σ,
    torch's own checks switched off): draws work, densities are refused with the cause — before
    and after ``map_tensors`` (which keeps the triangular factor) — never a −inf log det."""
    mu, d, U, G, b = _data()
    L = torch.linalg.cholesky(torch.diag(d) + U @ U.T)
    L[3, 3] = 0.0
    prior = MultivariateNormal(mu, scale_tril=L, validate_args=False)
    post = conserve(prior, G=G, b=b, noise_var=0.1)
    assert bool(torch.isfinite(post.sample((2,))).all())
    y = post.mean.expand(2, N)
    for p in (post, post.map_tensors(lambda t, tail: t)):
        for call in (p.entropy, lambda p=p: p.log_prob(y)):
            with pytest.raises(ValueError) as err:
                call()
            assert str(err.value) == (
                "covariance: log_prob/entropy need a non-singular prior covariance Σ, but its "
                "factor has a zero pivot; mean, variance, covariance_matrix and rsample do not"
            )


@pytest.mark.parametrize("validate", ["cheap", "full"])
def test_a_prior_refused_as_singular_stays_refused_after_map_tensors(validate):
    """Σ = U Uᵀ of rank n − 1: where its Cholesky factorisation fails, densities are refused, and
    the re-indexed posterior (map_tensors, as in mixtures) refuses them too — the eigen factor's
    F Fᵀ may factor by round-off, which must not turn the refusal into a number. A gather that
    keeps only a non-singular slice has that slice's density."""
    n, refused = 6, 0
    G, b = torch.ones(1, n, dtype=F64), torch.ones(1, dtype=F64)
    for seed in range(40):
        g = torch.Generator().manual_seed(seed)
        U = torch.randn(n, n - 1, generator=g, dtype=F64)
        mu = torch.randn(n, generator=g, dtype=F64)
        post = conserve(mu, None, U @ U.T, G=G, b=b, noise_var=0.1, validate=validate)
        y = post.mean.unsqueeze(0)
        try:
            post.log_prob(y)
        except ValueError:
            refused += 1
            with pytest.raises(ValueError, match=r"^covariance: .*Cholesky factorisation failed"):
                post.map_tensors(lambda t, tail: t).log_prob(y)
    assert refused >= 5  # the case occurs (≈ 1 in 3 seeds here)
    # a batch of one non-singular and one singular Σ: gathering the good slice gives its density
    g = torch.Generator().manual_seed(0)
    A = torch.randn(n, n, generator=g, dtype=F64)
    good = A @ A.T + torch.eye(n, dtype=F64)
    U = torch.randn(n, n - 1, generator=g, dtype=F64)
    Sigma = torch.stack([good, torch.zeros(n, n, dtype=F64)])
    Sigma[1, 1:, 1:] = (U @ U.T)[1:, 1:]  # exactly singular: row and column 0 zero
    post = conserve(torch.zeros(2, n, dtype=F64), None, Sigma, G=G, b=b, noise_var=0.1)
    with pytest.raises(ValueError, match=r"^covariance: .*Cholesky factorisation failed"):
        post.log_prob(post.mean)
    kept = post.map_tensors(lambda t, tail: t[[0]])
    ref = conserve(torch.zeros(n, dtype=F64), None, good, G=G, b=b, noise_var=0.1)
    torch.testing.assert_close(kept.log_prob(ref.mean), ref.log_prob(ref.mean).unsqueeze(0))


def test_the_singular_verdict_follows_its_slice_through_repeated_maps():
    """A batch (2, 2) of dense priors with one singular slice (rank n − 1, its eigen factor's F Fᵀ
    factoring by round-off): flipping the last batch dim and then picking a slice — two
    map_tensors, each mapper using its ``tail`` (event dims) argument — refuses densities exactly
    when the picked slice is the singular one, and gives the good slices their own density."""
    n = 6
    G, b = torch.ones(1, n, dtype=F64), torch.ones(1, dtype=F64)
    for seed in range(200):  # a singular Σ whose eigen factor's F Fᵀ does factor
        g = torch.Generator().manual_seed(seed)
        U = torch.randn(n, n - 1, generator=g, dtype=F64)
        S = U @ U.T
        if int(torch.linalg.cholesky_ex(S)[1]) == 0:
            continue
        F = conserve(torch.zeros(n, dtype=F64), None, S, G=G, b=b, noise_var=0.1).prior_factor
        if int(torch.linalg.cholesky_ex(F @ F.mT)[1]) == 0:
            break
    else:
        raise AssertionError("no such seed")
    for validate in ("cheap", "full"):  # refused by either validation, not only after maps
        single = conserve(
            torch.zeros(n, dtype=F64), None, S, G=G, b=b, noise_var=0.1, validate=validate
        )
        with pytest.raises(ValueError, match=r"^covariance: .*Cholesky factorisation failed"):
            single.log_prob(single.mean)
    A = torch.randn(n, n, generator=torch.Generator().manual_seed(1), dtype=F64)
    good = A @ A.T + torch.eye(n, dtype=F64)
    Sigma = torch.stack([torch.stack([good, good]), torch.stack([good, S])])  # singular at (1, 1)
    post = conserve(torch.zeros(2, 2, n, dtype=F64), None, Sigma, G=G, b=b, noise_var=0.1)

    def full(t, tail):  # as sample_mixture's mapper: batch dims first, then the tail event dims
        return t.expand(2, 2, *t.shape[t.ndim - tail :])

    flipped = post.map_tensors(lambda t, tail: full(t, tail).flip(1))  # (1, 1) -> (1, 0)
    ref = conserve(torch.zeros(n, dtype=F64), None, good, G=G, b=b, noise_var=0.1)
    for i, j in ((0, 0), (0, 1), (1, 1)):
        picked = flipped.map_tensors(lambda t, tail, i=i, j=j: full(t, tail)[i, j])
        torch.testing.assert_close(picked.log_prob(ref.mean), ref.log_prob(ref.mean))
    singular = flipped.map_tensors(lambda t, tail: full(t, tail)[1, 0])
    with pytest.raises(ValueError, match=r"^covariance: .*Cholesky factorisation failed"):
        singular.log_prob(singular.mean)
