"""ConservedPosterior with a batch: every method on a batch equals the same method on each slice
computed by dense float64 algebra, for every prior structure (diagonal, dense, factor, low rank,
lazy operators), with per-slice scales 1e3 apart, per-slice G and both σ_G = 0 and σ_G > 0.
Also its contracts: dtypes, the hard constraint ignoring noise draws, errors naming the argument.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from torch.distributions import LowRankMultivariateNormal, MultivariateNormal, Normal

from pcml.constraints import conserve, sample_mixture

F64 = torch.float64
gpytorch = pytest.importorskip("gpytorch")
lo = pytest.importorskip("linear_operator.operators")

B, N, K = 2, 7, 2  # batch, unknowns, low rank
SCALES = np.array([1.0, 1e3])  # per-slice prior scale: the scaled form must not mix slices


def _batched_problem(seed, m):
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(B, N))
    d = rng.uniform(0.2, 1.5, size=(B, N)) * SCALES[:, None]
    U = rng.normal(size=(B, N, K)) * 0.5 * np.sqrt(SCALES)[:, None, None]
    G = rng.normal(size=(B, m, N))
    G[1] *= 10.0  # per-slice row norms
    b = rng.normal(size=(B, m))
    return rng, mu, d, U, G, b


def _batched_prior(kind, mu, d, U):
    """(prior argument(s) for conserve, dense Σ (B, n, n))."""
    t = torch.from_numpy
    full = np.stack([np.diag(d[i]) + U[i] @ U[i].T for i in range(B)])
    diag = np.stack([np.diag(d[i]) for i in range(B)])
    if kind == "diag":
        return (t(mu), t(d)), diag
    if kind == "normal":
        return (Normal(t(mu), t(d).sqrt()),), diag
    if kind == "dense":
        return (t(mu), None, t(full)), full
    if kind == "dense_shared":  # one Σ (n, n) for a batch of means
        return (t(mu), None, t(full[0])), np.stack([full[0]] * B)
    if kind == "dense_size1":  # a (1, n, n) Σ broadcast against a batch of means
        return (t(mu), None, t(full[:1])), np.stack([full[0]] * B)
    if kind == "torch_mvn":
        return (MultivariateNormal(t(mu), t(full)),), full
    if kind == "torch_lowrank":
        return (LowRankMultivariateNormal(t(mu), t(U), t(d)),), full
    if kind == "op_diag":
        return (t(mu), None, lo.DiagLinearOperator(t(d))), diag
    if kind == "op_dense":
        return (t(mu), None, lo.DenseLinearOperator(t(full))), full
    if kind == "op_lowrank":
        return (t(mu), None, lo.LowRankRootLinearOperator(t(U)) + lo.DiagLinearOperator(t(d))), full
    if kind == "op_generic":
        op = lo.AddedDiagLinearOperator(
            lo.DenseLinearOperator(t(np.einsum("bik,bjk->bij", U, U))),
            lo.DiagLinearOperator(t(d)),
        )
        return (t(mu), None, op), full
    raise AssertionError(kind)


KINDS = [
    "diag",
    "normal",
    "dense",
    "dense_shared",
    "dense_size1",
    "torch_mvn",
    "torch_lowrank",
    "op_diag",
    "op_dense",
    "op_lowrank",
    "op_generic",
]


def _slice_reference(mu, Sigma, G, b, nv):
    S = nv * np.eye(len(b)) + G @ Sigma @ G.T
    Kg = Sigma @ G.T @ np.linalg.inv(S)
    return mu - Kg @ (G @ mu - b), Sigma - Kg @ G @ Sigma, Kg


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("m", "nv"), [(1, 0.0), (2, 0.3)])
def test_batched_posterior_equals_dense_algebra_slice_by_slice(kind, m, nv):
    rng, mu, d, U, G, b = _batched_problem(KINDS.index(kind) + 10 * m, m)
    args, Sigma = _batched_prior(kind, mu, d, U)
    nvs = nv * SCALES * 100.0 ** np.arange(B)  # per slice, in proportion to G Σ Gᵀ
    post = conserve(
        *args, G=torch.from_numpy(G), b=torch.from_numpy(b), noise_var=torch.from_numpy(nvs)
    )
    assert post.batch_shape == (B,) and post.event_shape == (N,)
    S = 3
    u = np.stack([rng.multivariate_normal(mu[i], Sigma[i], size=S) for i in range(B)], axis=1)
    eps = rng.normal(size=(S, B, m)) * np.sqrt(nvs)[:, None]
    y = post.condition_samples(torch.from_numpy(u), torch.from_numpy(eps)).numpy()
    pts = y if nv == 0 else y + rng.normal(size=y.shape) * np.sqrt(SCALES)[:, None]
    lp = post.log_prob(torch.from_numpy(pts)).numpy()
    assert lp.shape == (S, B)
    ent = post.entropy().numpy()
    residual = post.constraint_residual().numpy()
    for i in range(B):
        mean, cov, Kg = _slice_reference(mu[i], Sigma[i], G[i], b[i], nvs[i])
        scale = np.abs(cov).max()
        np.testing.assert_allclose(post.mean[i].numpy(), mean, rtol=0, atol=1e-10 * (1 + scale))
        np.testing.assert_allclose(post.variance[i].numpy(), np.diag(cov), atol=1e-10 * scale)
        np.testing.assert_allclose(post.covariance_matrix[i].numpy(), cov, atol=1e-10 * scale)
        np.testing.assert_allclose(residual[i], G[i] @ mean - b[i], atol=1e-9 * (1 + scale))
        y_ref = u[:, i] - (Kg @ (G[i] @ u[:, i].T + eps[:, i].T - b[i][:, None])).T
        np.testing.assert_allclose(y[:, i], y_ref, rtol=0, atol=1e-9 * (1 + np.abs(y_ref).max()))
        ref = multivariate_normal(mean, cov, allow_singular=(nv == 0))
        np.testing.assert_allclose(lp[:, i], ref.logpdf(pts[:, i]), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(ent[i], ref.entropy(), rtol=1e-10)
    # draws: shape, and on {G u = b} slice by slice when σ_G = 0
    draw = post.rsample((4,), generator=torch.Generator().manual_seed(0)).numpy()
    assert draw.shape == (4, B, N)
    if nv == 0:
        res = np.einsum("bkn,sbn->sbk", G, draw) - b
        assert np.abs(res).max() <= 1e-11 * (1 + np.abs(draw).max() * np.abs(G).max())


def test_map_tensors_permutes_every_public_quantity():
    """A gather over the batch gives the posterior of the gathered problem (noisy, dense prior)."""
    _, mu, d, U, G, b = _batched_problem(3, 2)
    args, _ = _batched_prior("dense", mu, d, U)
    perm = torch.tensor([1, 0])
    for kw in ({"noise_var": 0.4}, {"noise_var": 0.0}):
        post = conserve(*args, G=torch.from_numpy(G), b=torch.from_numpy(b), **kw)
        swapped = post.map_tensors(lambda t, tail: t[perm])
        assert swapped.dtype == post.dtype and swapped.is_degenerate == post.is_degenerate
        pts = post.sample((3,), generator=torch.Generator().manual_seed(1))
        for name in ("mean", "variance", "covariance_matrix", "b", "G"):
            torch.testing.assert_close(getattr(swapped, name), getattr(post, name)[perm])
        torch.testing.assert_close(swapped.constraint_residual(), post.constraint_residual()[perm])
        torch.testing.assert_close(swapped.entropy(), post.entropy()[perm])
        torch.testing.assert_close(swapped.log_prob(pts[:, perm]), post.log_prob(pts)[:, perm])


@pytest.mark.parametrize("kind", ["diag", "dense", "torch_lowrank"])
def test_sample_mixture_of_noisy_posteriors_has_the_constraint_noise(kind):
    """With σ_G > 0 the draws of every component spread around G u = b with variance gᵀΣ̃g."""
    _, mu, d, U, G, b = _batched_problem(5, 1)
    args, _ = _batched_prior(kind, mu, d, U)
    g = G[0, 0]  # one shared row so that both components have a scalar G u
    post = conserve(*args, G=torch.from_numpy(g), b=torch.from_numpy(b[:, 0]), noise_var=0.5)
    y = sample_mixture(post, (4000,), generator=torch.Generator().manual_seed(2)).numpy()
    gy = y @ g
    # mixture of N(gᵀμ̃_s, gᵀΣ̃_s g): its variance by the law of total variance
    cov = post.covariance_matrix.numpy()
    m_s = post.mean.numpy() @ g
    v_s = np.einsum("i,sij,j->s", g, cov, g)
    var = v_s.mean() + m_s.var()
    assert v_s.min() > 0.01  # the noise keeps Σ̃ non-degenerate along g
    se = var * np.sqrt(2.0 / len(gy))
    assert abs(gy.var() - var) <= 5 * se
    assert abs(gy.mean() - m_s.mean()) <= 5 * np.sqrt(var / len(gy))


def test_float32_posterior_returns_float32_and_accepts_its_own_draws():
    rng = np.random.default_rng(6)
    mu = torch.from_numpy(rng.normal(size=(B, N))).float()
    var = torch.from_numpy(rng.uniform(0.5, 1.0, size=(B, N))).float()
    g = torch.full((N,), 1.0 / N)
    for nv in (0.0, 0.2):
        post = conserve(mu, var, G=g, b=torch.tensor([0.3, -0.2]), noise_var=nv)
        ref = conserve(
            mu.double(),
            var.double(),
            G=g.double(),
            b=torch.tensor([0.3, -0.2]).double(),
            noise_var=nv,
        )
        y = post.sample((5,), generator=torch.Generator().manual_seed(0))
        assert y.dtype == torch.float32
        u = torch.from_numpy(rng.normal(size=(5, B, N)))
        ys = post.condition_samples(u, torch.ones(5, B, 1))
        assert ys.dtype == torch.float32
        torch.testing.assert_close(ys, ref.condition_samples(u, torch.ones(5, B, 1)).float())
        for value in (post.entropy(), post.log_prob(y), post.constraint_residual()):
            assert value.dtype == torch.float32
        # a float32 point lies on {G u = b} to float32 round-off: the float64 density, not -inf
        assert bool(torch.isfinite(post.log_prob(y)).all())
        y64 = ref.sample((5,), generator=torch.Generator().manual_seed(0))
        lp = post.log_prob(y64.float())
        assert bool(torch.isfinite(lp).all())
        torch.testing.assert_close(lp.double(), ref.log_prob(y64), rtol=1e-4, atol=1e-3)


def test_hard_constraint_ignores_noise_draws_and_off_subspace_points_only_are_minus_inf():
    rng = np.random.default_rng(7)
    mu = torch.from_numpy(rng.normal(size=(B, N)))
    G = torch.from_numpy(rng.normal(size=(2, N)))
    post = conserve(mu, torch.ones(B, N, dtype=F64), G=G, b=torch.zeros(B, 2, dtype=F64))
    u = torch.from_numpy(rng.normal(size=(4, B, N)))
    y = post.condition_samples(u, torch.ones(4, B, 2, dtype=F64))  # σ_G = 0: ε is ignored
    torch.testing.assert_close(y, post.condition_samples(u), rtol=0, atol=0)
    assert float((y @ G.T).abs().max()) <= 1e-13
    # one point of the batch off {G u = b}: only that one has no density
    off = y.clone()
    off[1, 0] += 1e-3 * G[0]
    lp = post.log_prob(off)
    assert bool(torch.isneginf(lp[1, 0])) and int(torch.isneginf(lp).sum()) == 1


def test_sample_uses_the_given_generator():
    post = conserve(torch.zeros(B, N, dtype=F64), torch.ones(N, dtype=F64), G=torch.ones(N), b=1.0)
    one = post.sample((3,), generator=torch.Generator().manual_seed(5))
    two = post.rsample((3,), generator=torch.Generator().manual_seed(5))
    torch.manual_seed(123)
    torch.testing.assert_close(one, two, rtol=0, atol=0)
    torch.testing.assert_close(post.sample((3,), generator=torch.Generator().manual_seed(5)), one)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda p: p.condition_samples(torch.zeros(3, N + 1)),
            rf"prior_samples: expected shape (..., n) with n = {N}, got (3, {N + 1})",
        ),
        (
            lambda p: p.condition_samples(torch.zeros(2, B, N), torch.zeros(2, B, 3)),
            "noise_samples: expected shape (..., m) with m = 1, got (2, 2, 3)",
        ),
        (lambda p: p.condition_samples("abc"), "prior_samples: cannot convert str to a tensor"),
        (
            lambda p: p.condition_samples(torch.zeros(B, N), "abc"),
            "noise_samples: cannot convert str to a tensor",
        ),
        (
            lambda p: p.log_prob(torch.zeros(B, N - 1)),
            f"value: expected shape (..., {N}), got (2, {N - 1})",
        ),
        (lambda p: p.log_prob("abc"), "value: cannot convert str to a tensor"),
    ],
)
def test_errors_name_the_argument_and_shape(call, message):
    post = conserve(
        torch.zeros(B, N, dtype=F64),
        torch.ones(N, dtype=F64),
        G=torch.ones(N),
        b=1.0,
        noise_var=0.1,
    )
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        call(post)


def test_repr_names_the_structure():
    dense = conserve(torch.zeros(N), covariance=torch.eye(N), G=torch.ones(N), b=1.0)
    noisy = conserve(torch.zeros(B, N), torch.ones(N), G=torch.ones(N), b=1.0, noise_var=0.5)
    assert repr(dense) == (
        f"ConservedPosterior(batch_shape=(), n={N}, m=1, prior=dense, noise=none, "
        "dtype=torch.float32)"
    )
    assert "batch_shape=(2,)" in repr(noisy) and "prior=diagonal, noise=R" in repr(noisy)


def _dense_posterior(mu, Sigma, G, b, R):
    """N(μ̃, Σ̃) by the dense float64 formula (torch, one slice)."""
    gain = Sigma @ G.T @ torch.linalg.inv(G @ Sigma @ G.T + R)
    return mu - gain @ (G @ mu - b), Sigma - gain @ G @ Sigma


def test_batched_noise_cov_densities_slice_by_slice():
    """A batch of explicit R (B, m, m), B ≠ m: log det R is taken per slice (the general
    noise factor, not the diagonal noise_var path), log_prob and entropy equal N(μ̃, Σ̃)."""
    rng = np.random.default_rng(21)
    nb, m, n = 3, 2, 5
    mu = torch.from_numpy(rng.normal(size=(nb, n)))
    d = torch.from_numpy(rng.uniform(0.3, 2.0, size=(nb, n)))
    G = torch.from_numpy(rng.normal(size=(nb, m, n)))
    b = torch.from_numpy(rng.normal(size=(nb, m)))
    A = torch.from_numpy(rng.normal(size=(nb, m, m)))
    R = A @ A.mT + 0.1 * torch.eye(m, dtype=F64) * torch.tensor([1.0, 10.0, 100.0])[:, None, None]
    post = conserve(mu, d, G=G, b=b, noise_cov=R)
    y = torch.from_numpy(rng.normal(size=(4, nb, n)))
    lp, ent = post.log_prob(y), post.entropy()
    for i in range(nb):
        mean, cov = _dense_posterior(mu[i], torch.diag(d[i]), G[i], b[i], R[i])
        ref = MultivariateNormal(mean, cov)
        torch.testing.assert_close(lp[:, i], ref.log_prob(y[:, i]), rtol=1e-11, atol=0)
        torch.testing.assert_close(ent[i], ref.entropy(), rtol=1e-11, atol=0)


def test_off_subspace_threshold_integer_points_and_the_origin():
    """σ_G = 0: a point is on {G u = b} iff |G'y − b'| ≤ 1e3·eps·(|G'||y| + |b'|) (the documented
    relative residual; here G' = G, b' = b exactly): 1999 ulp of a residual on a scale of 2 is on,
    2001 ulp is off. The origin on {G u = 0} (residual and scale both 0) has its density; integer
    points are read as float64."""
    mu = torch.tensor([0.5, 0.3, -0.2], dtype=F64)
    post = conserve(mu, torch.ones(3, dtype=F64), G=torch.tensor([1.0, 0.0, 0.0]), b=1.0)
    ulp = 2.0**-52
    pts = torch.tensor([[1.0 + 1999 * ulp, 0.3, -0.2], [1.0 + 2001 * ulp, 0.3, -0.2]], dtype=F64)
    lp = post.log_prob(pts)
    # on {u_0 = 1}: u_1, u_2 ~ N(μ_1,2, 1) independently
    ref = Normal(mu[1:], 1.0).log_prob(pts[0, 1:]).sum()
    torch.testing.assert_close(lp[0], ref, rtol=1e-14, atol=0)
    assert bool(torch.isneginf(lp[1]))
    post0 = conserve(mu, torch.ones(3, dtype=F64), G=torch.tensor([1.0, 1.0, 1.0]), b=0.0)
    ref0 = post0.log_prob(torch.tensor([1e-300, -1e-300, 0.0], dtype=F64))
    torch.testing.assert_close(post0.log_prob(torch.zeros(3, dtype=F64)), ref0, rtol=1e-14, atol=0)
    assert bool(torch.isfinite(ref0))
    ints = torch.tensor([[2, -1, -1], [1, 1, 1]])
    lp_int = post0.log_prob(ints)
    assert lp_int.dtype == F64
    torch.testing.assert_close(lp_int[0], post0.log_prob(ints[0].double()), rtol=0, atol=0)
    assert bool(torch.isneginf(lp_int[1]))


def _indefinite_operator():
    """A lazy generic Σ (3, 3) = A + I with a positive diagonal and eigenvalues −1, 1, 3."""
    a = torch.tensor([[0.0, 2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], dtype=F64)
    return lo.AddedDiagLinearOperator(
        lo.DenseLinearOperator(a), lo.DiagLinearOperator(torch.ones(3, dtype=F64))
    )


def test_prior_factor_is_a_factor_of_the_prior_for_every_structure():
    """prior_factor F (n, n) satisfies F Fᵀ = Σ for dense, factor, low-rank and lazy priors of
    scale 7 (stored as Σ/7 inside), also for a singular low-rank Σ (eigen factor); an indefinite
    lazy Σ (accepted by the cheap validation) is refused by name when a factor is asked for."""
    rng = np.random.default_rng(22)
    n = 5
    mu = torch.from_numpy(rng.normal(size=n))
    U = torch.from_numpy(rng.normal(size=(n, 2)))
    d = torch.from_numpy(rng.uniform(0.5, 1.0, size=n))
    Sigma = 7.0 * (torch.diag(d) + U @ U.T) / (d + (U * U).sum(-1)).max()
    d0 = d.clone()
    d0[:3] = 0.0
    singular = torch.diag(d0) + U @ U.T  # rank 4
    priors = {
        "dense": ((mu, None, Sigma), Sigma),
        "mvn": ((MultivariateNormal(mu, Sigma),), Sigma),
        "lowrank": (
            (LowRankMultivariateNormal(mu, 2.0 * U, 3.0 * d),),
            3.0 * torch.diag(d) + 4.0 * U @ U.T,
        ),
        "op": (
            (mu, None, lo.DenseLinearOperator(Sigma) + lo.DiagLinearOperator(d)),
            Sigma + torch.diag(d),
        ),
        "singular_lowrank": (
            (mu, None, lo.LowRankRootLinearOperator(U) + lo.DiagLinearOperator(d0)),
            singular,
        ),
    }
    g = torch.ones(n, dtype=F64)
    for name, (args, full) in priors.items():
        F = conserve(*args, G=g, b=1.0).prior_factor
        torch.testing.assert_close(F @ F.mT, full, rtol=1e-12, atol=1e-12, msg=name)
    post = conserve(
        torch.zeros(3, dtype=F64), covariance=_indefinite_operator(), G=[0.0, 0.0, 1.0], b=1.0
    )
    with pytest.raises(ValueError) as err:
        _ = post.prior_factor
    assert str(err.value) == (
        "covariance: expected a symmetric positive (semi-)definite matrix, found smallest "
        "eigenvalue -1.000e+00 (largest 3.000e+00) in a batch of shape (3, 3)"
    )


def test_a_generic_operator_prior_cannot_be_re_indexed_and_says_so():
    post = conserve(
        torch.zeros(3, dtype=F64), covariance=_indefinite_operator(), G=[0.0, 0.0, 1.0], b=1.0
    )
    with pytest.raises(ValueError) as err:
        post.map_tensors(lambda t, tail: t)
    assert str(err.value) == "covariance: this covariance type cannot be re-indexed"


def test_operator_prior_with_a_two_dimensional_batch_and_per_slice_scales():
    """A lazy generic Σ of batch (2, 3) with per-slice scales 1 … 1e5: mean, Σ̃, log_prob and
    entropy of every slice equal the dense formula (log det c·A = log det A + n log c)."""
    rng = np.random.default_rng(23)
    n, m = 4, 1
    A = torch.from_numpy(rng.normal(size=(2, 3, n, n)))
    scale = torch.logspace(0, 5, 6, dtype=F64).reshape(2, 3)
    Sigma = (A @ A.mT + torch.eye(n, dtype=F64)) * scale[..., None, None]
    dg = torch.full((2, 3, n), 0.5, dtype=F64) * scale[..., None]
    op = lo.AddedDiagLinearOperator(lo.DenseLinearOperator(Sigma), lo.DiagLinearOperator(dg))
    full = Sigma + torch.diag_embed(dg)
    mu = torch.from_numpy(rng.normal(size=(2, 3, n)))
    G = torch.from_numpy(rng.normal(size=(m, n)))
    b = torch.from_numpy(rng.normal(size=(m,)))
    R = 0.3 * torch.eye(m, dtype=F64)
    post = conserve(mu, covariance=op, G=G, b=b, noise_var=0.3)
    y = mu + torch.from_numpy(rng.normal(size=(2, 2, 3, n)))
    lp, ent = post.log_prob(y), post.entropy()
    for i in range(2):
        for j in range(3):
            mean, cov = _dense_posterior(mu[i, j], full[i, j], G, b, R)
            ref = MultivariateNormal(mean, cov)
            torch.testing.assert_close(post.mean[i, j], mean, rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(
                post.covariance_matrix[i, j], cov, rtol=1e-9, atol=1e-9 * float(scale[i, j])
            )
            torch.testing.assert_close(lp[:, i, j], ref.log_prob(y[:, i, j]), rtol=1e-8, atol=0)
            torch.testing.assert_close(ent[i, j], ref.entropy(), rtol=1e-8, atol=0)


def test_operator_prior_draws_have_the_posterior_covariance_at_scale_4():
    """rsample of a lazy generic prior whose variances reach 4 (stored as Σ/4): the empirical
    covariance of 20000 draws is Σ̃ (within 5 % of its largest entry)."""
    Sigma = torch.tensor([[4.0, 1.0, 0.5], [1.0, 2.0, 0.3], [0.5, 0.3, 1.0]], dtype=F64)
    op = lo.AddedDiagLinearOperator(
        lo.DenseLinearOperator(Sigma - 0.5 * torch.eye(3, dtype=F64)),
        lo.DiagLinearOperator(torch.full((3,), 0.5, dtype=F64)),
    )
    post = conserve(
        torch.zeros(3, dtype=F64), covariance=op, G=[1.0, 1.0, 0.0], b=1.0, noise_var=0.5
    )
    y = post.rsample((20000,), generator=torch.Generator().manual_seed(3))
    err = (torch.cov(y.T) - post.covariance_matrix).abs().max()
    assert float(err) <= 0.05 * float(post.covariance_matrix.abs().max())


def test_batched_operator_prior_log_prob_refuses_a_broadcast_batch_by_name():
    """log_prob of a lazy Σ of batch (1,) broadcast against means (3,) is refused verbatim."""
    op = lo.AddedDiagLinearOperator(
        lo.DenseLinearOperator(torch.eye(3, dtype=F64).expand(1, 3, 3)),
        lo.DiagLinearOperator(torch.ones(1, 3, dtype=F64)),
    )
    post = conserve(
        torch.zeros(3, 3, dtype=F64), covariance=op, G=[1.0, 1.0, 0.0], b=1.0, noise_var=0.5
    )
    with pytest.raises(ValueError) as err:
        post.log_prob(torch.zeros(2, 3, 3, dtype=F64))
    assert str(err.value) == (
        "covariance: log_prob of a batched linear operator needs the batch shape (1,) of the "
        "covariance, got points of shape (2, 3, 3)"
    )


def test_dense_prior_with_a_three_dimensional_batch_log_prob():
    """A dense Σ of batch (2, 2, 2) with sample axes in front: log_prob per slice is N(μ̃, Σ̃)."""
    rng = np.random.default_rng(24)
    n = 3
    A = torch.from_numpy(rng.normal(size=(2, 2, 2, n, n)))
    Sigma = A @ A.mT + 0.5 * torch.eye(n, dtype=F64)
    mu = torch.from_numpy(rng.normal(size=(2, 2, 2, n)))
    G = torch.ones(1, n, dtype=F64)
    b = torch.ones(1, dtype=F64)
    post = conserve(mu, None, Sigma, G=G, b=b, noise_var=0.2)
    y = torch.from_numpy(rng.normal(size=(5, 2, 2, 2, n)))
    lp = post.log_prob(y)
    assert lp.shape == (5, 2, 2, 2)
    for idx in np.ndindex(2, 2, 2):
        mean, cov = _dense_posterior(mu[idx], Sigma[idx], G, b, 0.2 * torch.eye(1, dtype=F64))
        ref = MultivariateNormal(mean, cov).log_prob(y[(slice(None), *idx)])
        torch.testing.assert_close(lp[(slice(None), *idx)], ref, rtol=1e-11, atol=0)


def test_float32_and_integer_prior_samples_with_many_constraints_are_read_exactly():
    """condition_samples with m = 17 rows (the matmul branch of G u): float32 and integer prior
    draws give exactly the map of the same numbers in float64 (float64 posterior)."""
    rng = np.random.default_rng(25)
    n, m = 20, 17
    mu = torch.from_numpy(rng.normal(size=n))
    G = torch.from_numpy(rng.normal(size=(m, n)))
    b = torch.from_numpy(rng.normal(size=m))
    post = conserve(mu, torch.ones(n, dtype=F64), G=G, b=b, noise_var=0.1)
    u32 = torch.from_numpy(rng.normal(size=(3, n))).float()
    u_int = torch.from_numpy(rng.integers(-5, 5, size=(3, n)))
    eps32 = torch.from_numpy(rng.normal(size=(3, m))).float()
    S = G @ G.T + 0.1 * torch.eye(m, dtype=F64)  # Σ = I
    for u in (u32, u_int):
        y = post.condition_samples(u, eps32)
        u64 = u.double()
        torch.testing.assert_close(y, post.condition_samples(u64, eps32.double()), rtol=0, atol=0)
        y_ref = u64 - (G.T @ torch.linalg.solve(S, G @ u64.T + eps32.double().T - b[:, None])).T
        torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
