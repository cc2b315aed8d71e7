"""ConservedPosterior as a distribution: every method against a dense float64 reference, for every
accepted prior type (tensors, numpy, torch.distributions, GPyTorch with lazy covariances)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from torch.distributions import LowRankMultivariateNormal, MultivariateNormal, Normal

from pcml.constraints import ConservedPosterior, conserve

F64 = torch.float64
gpytorch = pytest.importorskip("gpytorch")
lo = pytest.importorskip("linear_operator.operators")


def _problem(rng, n, m, k=3):
    mu = rng.normal(size=n)
    d = rng.uniform(0.2, 1.5, size=n)
    U = rng.normal(size=(n, k)) * 0.5
    G = rng.normal(size=(m, n))
    b = rng.normal(size=m)
    return mu, d, U, G, b


def _prior(kind, mu, d, U):
    """(prior argument(s) for conserve, dense Σ)."""
    t = torch.from_numpy
    lowrank = np.diag(d) + U @ U.T
    if kind == "diag":
        return (t(mu), t(d)), np.diag(d)
    if kind == "numpy":
        return (mu, d), np.diag(d)
    if kind == "normal":
        return (Normal(t(mu), t(d).sqrt()),), np.diag(d)
    if kind == "dense":
        return (t(mu), None, t(lowrank)), lowrank
    if kind == "torch_mvn":
        return (MultivariateNormal(t(mu), t(lowrank)),), lowrank
    if kind == "torch_lowrank":
        return (LowRankMultivariateNormal(t(mu), t(U), t(d)),), lowrank
    op_lowrank = lo.LowRankRootLinearOperator(t(U)) + lo.DiagLinearOperator(t(d))
    if kind == "gp_lowrank":
        assert isinstance(op_lowrank, lo.LowRankRootAddedDiagLinearOperator)
        return (gpytorch.distributions.MultivariateNormal(t(mu), op_lowrank),), lowrank
    if kind == "gp_dense":
        return (gpytorch.distributions.MultivariateNormal(t(mu), t(lowrank)),), lowrank
    if kind == "gp_generic":  # no structure pcml knows: linear_operator's own numerics
        op = lo.AddedDiagLinearOperator(
            lo.DenseLinearOperator(t(U @ U.T)), lo.DiagLinearOperator(t(d))
        )
        return (gpytorch.distributions.MultivariateNormal(t(mu), op),), lowrank
    if kind == "gp_multitask":  # 2 tasks, interleaved: event = mean.reshape(-1)
        mt = t(mu).reshape(-1, 2)
        return (gpytorch.distributions.MultitaskMultivariateNormal(mt, op_lowrank),), lowrank
    raise AssertionError(kind)


KINDS = [
    "diag",
    "numpy",
    "normal",
    "dense",
    "torch_mvn",
    "torch_lowrank",
    "gp_lowrank",
    "gp_dense",
    "gp_generic",
    "gp_multitask",
]


def _reference(mu, Sigma, G, b, nv):
    S = nv * np.eye(len(b)) + G @ Sigma @ G.T
    K = Sigma @ G.T @ np.linalg.inv(S)
    return mu - K @ (G @ mu - b), Sigma - K @ G @ Sigma, K


@pytest.mark.parametrize(("kind", "m", "nv"), list(itertools.product(KINDS, [1, 2, 5], [0.0, 0.3])))
def test_every_method_matches_dense_float64_reference(kind, m, nv):
    rng = np.random.default_rng(100 * KINDS.index(kind) + 10 * m + int(nv > 0))
    n = 12
    mu, d, U, G, b = _problem(rng, n, m)
    args, Sigma = _prior(kind, mu, d, U)
    post = conserve(*args, G=G, b=b, noise_var=nv)
    assert isinstance(post, torch.distributions.Distribution) and post.event_shape == (n,)
    ref_mean, ref_cov, K = _reference(mu, Sigma, G, b, nv)

    def close(a, ref, tol=1e-10):
        a = np.asarray(a.detach() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
        assert np.abs(a - ref).max() <= tol * max(np.abs(ref).max(), 1.0), kind

    close(post.mean, ref_mean)
    close(post.variance, np.diag(ref_cov))
    close(post.stddev, np.sqrt(np.diag(ref_cov)))
    close(post.covariance_matrix, ref_cov)
    lower, upper = post.confidence_region()
    close(lower, ref_mean - 2 * np.sqrt(np.diag(ref_cov)))
    close(upper, ref_mean + 2 * np.sqrt(np.diag(ref_cov)))

    # samples: the same prior draws conditioned by pcml and by the explicit formula
    N = 7
    u = rng.multivariate_normal(mu, Sigma, size=N)
    eps = rng.normal(size=(N, m)) * np.sqrt(nv)
    y_ref = u - (K @ (G @ u.T + eps.T - b[:, None])).T
    close(post.condition_samples(torch.from_numpy(u), torch.from_numpy(eps)), y_ref)
    y = post.rsample((N,), generator=torch.Generator().manual_seed(0))
    assert y.shape == (N, n)

    # densities: scipy's (pseudo-determinant, for σ_G = 0) Gaussian on the dense Σ̃
    ref_dist = multivariate_normal(ref_mean, ref_cov, allow_singular=(nv == 0))
    pts = y_ref if nv == 0 else np.concatenate([y_ref, rng.normal(size=(3, n))])
    close(post.log_prob(torch.from_numpy(pts)), ref_dist.logpdf(pts))
    close(post.entropy(), ref_dist.entropy())
    if nv == 0:  # a point off the subspace {G u = b} has no density there
        assert torch.isneginf(post.log_prob(torch.from_numpy(y_ref[0] + 1e-3))).item()
        res = np.abs(y.detach().numpy() @ G.T - b)
        assert res.max() <= 1e-12 * (np.abs(y.detach().numpy()) @ np.abs(G).T + np.abs(b)).max()


def test_rsample_is_reparameterised_and_log_prob_differentiable():
    rng = np.random.default_rng(1)
    n, m = 9, 2
    mu, d, U, G, b = _problem(rng, n, m)
    mu_t = torch.tensor(mu, requires_grad=True)
    U_t = torch.tensor(U, requires_grad=True)
    d_t = torch.tensor(d, requires_grad=True)
    G_t = torch.tensor(G, requires_grad=True)
    post = conserve(LowRankMultivariateNormal(mu_t, U_t, d_t), G=G_t, b=torch.tensor(b))
    y = post.rsample((4,), generator=torch.Generator().manual_seed(0))
    (y.square().sum() + post.log_prob(y.detach()).sum() + post.entropy()).backward()
    for p in (mu_t, U_t, d_t, G_t):
        assert p.grad is not None and bool(torch.isfinite(p.grad).all())
        assert float(p.grad.abs().sum()) > 0
    # gradcheck of the diagonal path through rsample, log_prob and entropy
    t = lambda a: torch.tensor(a, dtype=F64, requires_grad=True)  # noqa: E731

    def fn(mu, logd, G, nv):
        p = conserve(mu, logd.exp(), G=G, b=torch.tensor(b), noise_var=nv)
        yy = p.rsample((2,), generator=torch.Generator().manual_seed(0))
        return yy, p.log_prob(yy), p.entropy()

    assert torch.autograd.gradcheck(fn, (t(mu), t(np.log(d)), t(G), t(0.4)))


def test_sample_is_detached_rsample_is_not():
    mu = torch.zeros(4, dtype=F64, requires_grad=True)
    post = conserve(mu, torch.ones(4, dtype=F64), G=torch.ones(4, dtype=F64), b=1.0)
    assert post.rsample().requires_grad and not post.sample().requires_grad
    assert post.sample((3, 2)).shape == (3, 2, 4) and post.has_rsample


def test_batched_log_prob_and_entropy_shapes():
    rng = np.random.default_rng(2)
    B, n, m = 3, 8, 2
    mu, d = rng.normal(size=(B, n)), rng.uniform(0.5, 1, size=(B, n))
    G, b = rng.normal(size=(m, n)), rng.normal(size=(B, m))
    post = conserve(mu, d, G=G, b=b, noise_var=0.1)
    y = post.sample((5,))
    assert post.log_prob(y).shape == (5, B) and post.entropy().shape == (B,)
    for i in range(B):
        Sigma = np.diag(d[i])
        mean, cov, _ = _reference(mu[i], Sigma, G, b[i], 0.1)
        ref = multivariate_normal(mean, cov).logpdf(y[:, i].numpy())
        np.testing.assert_allclose(post.log_prob(y)[:, i].numpy(), ref, rtol=1e-11)


def test_lazy_gpytorch_prior_at_n_20000_is_never_densified(monkeypatch):
    """Σ = diag(d) + U Uᵀ as a linear_operator at n = 20,000: no operator may be densified."""
    import linear_operator.operators as ops

    def forbid(self, *args, **kwargs):
        if self.shape[-1] > 1000 and self.shape[-2] > 1000:
            raise AssertionError(f"densified a {tuple(self.shape)} {type(self).__name__}")
        return orig[type(self)](self, *args, **kwargs)

    orig = {}
    stack = [ops.LinearOperator]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        orig[cls] = cls.to_dense
        monkeypatch.setattr(cls, "to_dense", forbid)
    n, k = 20_000, 20
    gen = torch.Generator().manual_seed(0)
    U = torch.randn(n, k, generator=gen, dtype=F64) / k
    d = torch.rand(n, generator=gen, dtype=F64) + 0.1
    op = ops.LowRankRootLinearOperator(U) + ops.DiagLinearOperator(d)
    with pytest.raises(AssertionError, match="densified"):
        op.to_dense()  # the guard works
    mvn = gpytorch.distributions.MultivariateNormal(torch.zeros(n, dtype=F64), op)
    x = torch.linspace(0, 1, n, dtype=F64)
    G = torch.stack([torch.full((n,), 1.0 / n), x / n])  # mass and first moment
    post = conserve(mvn, G=G, b=torch.tensor([0.5, 0.2], dtype=F64))
    y = post.rsample((3,), generator=gen)
    assert (y @ G.T - post.b).abs().max() <= 1e-13
    lp = post.log_prob(y)
    assert lp.shape == (3,) and bool(torch.isfinite(lp).all())
    assert post.variance.shape == (n,) and bool((post.variance <= op.diagonal()).all())
    assert torch.isfinite(post.entropy())


def test_lazy_gpytorch_matches_dense_reference_at_moderate_n():
    """The same structured lazy path against explicit dense float64 algebra (n = 300)."""
    rng = np.random.default_rng(3)
    n, m = 300, 3
    mu, d, U, G, b = _problem(rng, n, m, k=10)
    (mvn,), Sigma = _prior("gp_lowrank", mu, d, U)
    post = conserve(mvn, G=G, b=b)
    ref_mean, ref_cov, K = _reference(mu, Sigma, G, b, 0.0)
    u = rng.multivariate_normal(mu, Sigma, size=4)
    y_ref = u - (K @ (G @ u.T - b[:, None])).T
    y = post.condition_samples(torch.from_numpy(u)).numpy()
    assert np.abs(y - y_ref).max() <= 1e-10 * np.abs(y_ref).max()
    ref_lp = multivariate_normal(ref_mean, ref_cov, allow_singular=True).logpdf(y_ref)
    assert (
        np.abs(post.log_prob(torch.from_numpy(y_ref)).numpy() - ref_lp).max()
        <= 1e-10 * np.abs(ref_lp).max()
    )


@pytest.mark.parametrize("interleaved", [True, False])
def test_multitask_event_is_flattened_in_gpytorch_covariance_order(interleaved):
    rng = np.random.default_rng(4)
    n_data, n_tasks = 5, 2
    mean = torch.from_numpy(rng.normal(size=(n_data, n_tasks)))
    A = rng.normal(size=(10, 10))
    cov = torch.from_numpy(A @ A.T + np.eye(10))
    mt = gpytorch.distributions.MultitaskMultivariateNormal(mean, cov, interleaved=interleaved)
    # the flat event is mvn.loc: data-major when interleaved, task-major otherwise
    flat_mean = mean.reshape(-1) if interleaved else mean.mT.reshape(-1)
    torch.testing.assert_close(mt.loc, flat_mean)
    G = torch.zeros(n_tasks, n_data * n_tasks, dtype=F64)
    for task in range(n_tasks):  # the mass of each task
        if interleaved:
            G[task, task::n_tasks] = 1.0
        else:
            G[task, task * n_data : (task + 1) * n_data] = 1.0
    target = torch.tensor([1.0, -1.0], dtype=F64)
    post = conserve(mt, G=G, b=target)
    per_task = (
        post.mean.reshape(n_data, n_tasks) if interleaved else post.mean.reshape(n_tasks, n_data).mT
    )
    torch.testing.assert_close(per_task.sum(0), target, rtol=0, atol=1e-13)
    ref = conserve(flat_mean, covariance=cov, G=G, b=target)
    torch.testing.assert_close(post.mean, ref.mean, rtol=1e-13, atol=1e-13)
    torch.testing.assert_close(
        post.covariance_matrix, ref.covariance_matrix, rtol=1e-12, atol=1e-12
    )


def test_validate_full_checks_psd_cheap_does_not_cost_a_factorisation():
    # indefinite with a positive diagonal: only the full check sees it up front
    bad = torch.tensor([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]], dtype=F64)
    args = dict(G=torch.tensor([0.0, 0.0, 1.0], dtype=F64), b=1.0)
    with pytest.raises(ValueError, match=r"covariance.*positive"):
        conserve(torch.zeros(3, dtype=F64), covariance=bad, validate="full", **args)
    post = conserve(torch.zeros(3, dtype=F64), covariance=bad, **args)  # no O(n³) work
    # the moments are the dense formula in Σ as given, without factorising it
    gain = bad[:, 2:] / bad[2, 2]
    ref = bad - gain @ bad[2:, :]
    torch.testing.assert_close(post.covariance_matrix, ref, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(post.prior_cov, bad, rtol=1e-15, atol=0)
    with pytest.raises(ValueError, match="covariance"):
        post.sample()  # the factor is computed (and checked) when a draw needs it
    with pytest.raises(ValueError, match="validate"):
        conserve(torch.zeros(3), torch.ones(3), validate="yes", **args)  # type: ignore[arg-type]


def test_log_prob_needs_a_nonsingular_prior():
    post = conserve(
        torch.zeros(3, dtype=F64), torch.tensor([0.0, 1.0, 1.0], dtype=F64), G=torch.ones(3), b=1.0
    )
    assert isinstance(post, ConservedPosterior)
    with pytest.raises(ValueError, match="non-singular"):
        post.log_prob(post.mean)


def test_covariance_matrix_at_n_1e6_is_a_clear_error_not_an_allocation_failure():
    n = 10**6
    post = conserve(torch.zeros(n, dtype=F64), torch.ones(n, dtype=F64), G=torch.ones(n), b=1.0)
    assert post.variance.shape == (n,)  # everything else works in O(n)
    with pytest.raises(ValueError, match=r"covariance_matrix: .* needs 7.45e\+03 GiB"):
        _ = post.covariance_matrix


@pytest.mark.parametrize("kind", ["diag", "torch_lowrank", "gp_generic"])
def test_general_noise_covariance_log_prob_entropy_and_samples(kind):
    rng = np.random.default_rng(7)
    n, m = 10, 3
    mu, d, U, G, b = _problem(rng, n, m)
    B = rng.normal(size=(m, m))
    R = B @ B.T + 0.2 * np.eye(m)
    args, Sigma = _prior(kind, mu, d, U)
    post = conserve(*args, G=G, b=b, noise_cov=R)
    S = R + G @ Sigma @ G.T
    K = Sigma @ G.T @ np.linalg.inv(S)
    mean, cov = mu - K @ (G @ mu - b), Sigma - K @ G @ Sigma
    ref = multivariate_normal(mean, cov)
    pts = rng.normal(size=(4, n))
    np.testing.assert_allclose(
        post.log_prob(torch.from_numpy(pts)).numpy(), ref.logpdf(pts), rtol=1e-11
    )
    np.testing.assert_allclose(float(post.entropy()), ref.entropy(), rtol=1e-11)
    u = rng.multivariate_normal(mu, Sigma, size=3)
    eps = rng.multivariate_normal(np.zeros(m), R, size=3)
    y_ref = u - (K @ (G @ u.T + eps.T - b[:, None])).T
    y = post.condition_samples(torch.from_numpy(u), torch.from_numpy(eps)).numpy()
    np.testing.assert_allclose(y, y_ref, rtol=1e-11, atol=1e-11)


def test_log_prob_refuses_a_batch_mixing_hard_and_soft_constraints():
    post = conserve(
        torch.zeros(2, 4, dtype=F64),
        torch.ones(4, dtype=F64),
        G=torch.ones(4),
        b=1.0,
        noise_var=torch.tensor([0.0, 1.0], dtype=F64),
    )
    assert post.mean.shape == (2, 4) and abs(float(post.mean[0].sum()) - 1.0) <= 1e-15
    for call in (post.entropy, lambda: post.log_prob(post.mean)):
        with pytest.raises(ValueError) as err:
            call()
        assert str(err.value) == (
            "noise_var / noise_cov: log_prob and entropy need R = 0 everywhere or R positive "
            "definite everywhere; found R singular, or negligible next to G Σ Gᵀ (their ratio "
            "underflows float64), in part of the batch: use noise_var=0 there"
        )
