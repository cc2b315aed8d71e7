"""Exact GP backbone against dense float64 formulas, scipy's Matérn, and MultivariateNormal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import gamma, kv
from torch.distributions import MultivariateNormal

from pcml.models.gp import ExactGP

F64 = torch.float64


def _data(b: int = 2, nc: int = 8, nq: int = 6, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    cx = torch.rand(b, nc, 2, generator=g, dtype=F64)
    qx = torch.rand(b, nq, 2, generator=g, dtype=F64)
    cy = torch.sin(4 * cx[..., :1]) * torch.cos(3 * cx[..., 1:])
    return cx, cy, qx


def _dense_kernel(gp: ExactGP, a: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Obviously-correct double loop over point pairs."""
    th = gp.hyperparameters()
    out = torch.empty(a.shape[0], c.shape[0], dtype=F64)
    for i in range(a.shape[0]):
        for j in range(c.shape[0]):
            r = math.sqrt(float((((a[i] - c[j]) / th["lengthscale"]) ** 2).sum()))
            if gp.kernel == "rbf":
                rho = math.exp(-0.5 * r * r)
            else:  # Matérn ν = 5/2 from the general Bessel form
                nu = 2.5
                s = math.sqrt(2 * nu) * r
                rho = 1.0 if r == 0 else 2 ** (1 - nu) / gamma(nu) * s**nu * kv(nu, s)
            out[i, j] = float(th["outputscale"]) * rho
    return out


@pytest.mark.parametrize("kernel", ["rbf", "matern52"])
def test_posterior_matches_dense_formula(kernel: str) -> None:
    gp = ExactGP(kernel=kernel, lengthscale=0.35, outputscale=1.3, noise=1e-3)
    with torch.no_grad():
        gp.constant_mean.fill_(0.2)
    cx, cy, qx = _data()
    with torch.no_grad():
        pred = gp.predict(cx, cy, qx, full_cov=True)
    th = gp.hyperparameters()
    for b in range(2):
        kcc = _dense_kernel(gp, cx[b], cx[b]) + float(th["noise"]) * torch.eye(8, dtype=F64)
        kqc, kqq = _dense_kernel(gp, qx[b], cx[b]), _dense_kernel(gp, qx[b], qx[b])
        mean = 0.2 + kqc @ torch.linalg.solve(kcc, cy[b, :, 0] - 0.2)
        cov = kqq - kqc @ torch.linalg.solve(kcc, kqc.T)
        torch.testing.assert_close(pred.means[0, b], mean, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(
            pred.variances[0, b], cov.diagonal() + gp.variance_floor, rtol=1e-7, atol=1e-9
        )
        assert pred.covariances is not None
        torch.testing.assert_close(
            pred.covariances[0, b],
            cov + gp.variance_floor * torch.eye(6, dtype=F64),
            rtol=1e-7,
            atol=1e-9,
        )


def test_log_marginal_likelihood_matches_multivariate_normal() -> None:
    gp = ExactGP(kernel="matern52", lengthscale=0.5, noise=1e-2)
    cx, cy, _ = _data(b=3)
    lml = gp.log_marginal_likelihood(cx, cy)
    th = gp.hyperparameters()
    for b in range(3):
        cov = _dense_kernel(gp, cx[b], cx[b]) + float(th["noise"]) * torch.eye(8, dtype=F64)
        ref = MultivariateNormal(torch.zeros(8, dtype=F64), cov).log_prob(cy[b, :, 0])
        torch.testing.assert_close(lml[b], ref, rtol=1e-10, atol=1e-10)
    batch = {
        "context_x": cx[:, :5],
        "context_y": cy[:, :5],
        "target_x": cx[:, 5:],
        "target_y": cy[:, 5:],
    }
    torch.testing.assert_close(gp.loss(batch), -lml.sum() / 24)


def test_float32_inputs_return_float32_and_interpolate_contexts() -> None:
    gp = ExactGP(noise=1e-8)
    cx, cy, _ = _data()
    with torch.no_grad():
        pred = gp.predict(cx.float(), cy.float(), cx.float())
    assert pred.means.dtype == torch.float32
    torch.testing.assert_close(pred.means[0], cy[..., 0].float(), rtol=0, atol=1e-4)
    assert float(pred.variances.max()) < 1e-4


def test_learning_recovers_lengthscale_of_generating_gp() -> None:
    """Functions from an RBF GP with ℓ = (0.25, 0.5): maximising the summed LML recovers ℓ."""
    truth = ExactGP(lengthscale=1.0, noise=1e-6)
    with torch.no_grad():
        truth.raw_lengthscale.copy_(torch.log(torch.expm1(torch.tensor([0.25, 0.5], dtype=F64))))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(24, 30, 2, generator=g, dtype=F64)
    with torch.no_grad():
        th = truth._constrain(truth._raw())
        k = truth._cov(x, x, th) + 1e-6 * torch.eye(30, dtype=F64)
        y = torch.linalg.cholesky(k) @ torch.randn(24, 30, 1, generator=g, dtype=F64)
    gp = ExactGP(lengthscale=0.1, noise=1e-3)
    batch = {
        "context_x": x[:, :15],
        "context_y": y[:, :15],
        "target_x": x[:, 15:],
        "target_y": y[:, 15:],
    }
    opt = torch.optim.Adam(gp.parameters(), lr=0.1)
    start = gp.loss(batch).item()
    for _ in range(60):
        opt.zero_grad()
        loss = gp.loss(batch)
        loss.backward()
        opt.step()
    assert loss.item() < start
    ell = gp.hyperparameters()["lengthscale"].numpy()
    np.testing.assert_allclose(ell, [0.25, 0.5], rtol=0.15)


def test_per_function_refinement_improves_each_context_likelihood() -> None:
    cx, cy, _ = _data(b=3, nc=12)
    cy = cy * torch.tensor([1.0, 3.0, 0.3], dtype=F64).reshape(3, 1, 1)  # different amplitudes
    gp = ExactGP(lengthscale=0.3, refine_steps=40, refine_lr=0.05)
    shared = gp.log_marginal_likelihood(cx, cy)
    refined = gp.log_marginal_likelihood(cx, cy, gp.refine(cx, cy))
    assert bool((refined > shared).all())
    assert gp.refine(cx, cy)["outputscale"].shape == (3,)


def test_full_cov_sampling_and_bad_kernel() -> None:
    gp = ExactGP()
    cx, cy, qx = _data()
    with torch.no_grad():
        pred = gp.predict(cx, cy, qx, full_cov=True)
    assert pred.covariances is not None and pred.covariances.shape == (1, 2, 6, 6)
    assert pred.sample(3, torch.Generator().manual_seed(0)).shape == (3, 2, 6)
    with pytest.raises(ValueError, match="kernel"):
        ExactGP(kernel="cubic")
    with pytest.raises(ValueError, match="y"):
        gp.log_marginal_likelihood(cx, cy[..., 0])
