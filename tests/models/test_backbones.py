"""Contract test for every probabilistic backbone, plus the mixture object they return."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from pcml.models.anp import AttentiveNeuralProcess
from pcml.models.base import MixturePrediction, ProbabilisticBackbone
from pcml.models.ensemble import DeepEnsemble
from pcml.models.gp import ExactGP
from pcml.models.testing import BackboneContract


class TestAttentiveNeuralProcessContract(BackboneContract):
    def make_backbone(self, seed: int) -> ProbabilisticBackbone:
        torch.manual_seed(seed)
        return AttentiveNeuralProcess(hidden_channels=16, latent_dim=8, query_chunk_size=4)


class TestDeepEnsembleContract(BackboneContract):
    def make_backbone(self, seed: int) -> ProbabilisticBackbone:
        return DeepEnsemble(n_members=3, hidden_channels=16, n_layers=2, r_dim=8, seed=seed)


class TestExactGPContract(BackboneContract):
    rtol = 1e-5
    atol = 1e-5

    def make_backbone(self, seed: int) -> ProbabilisticBackbone:
        return ExactGP(kernel="matern52", lengthscale=0.4)


class TestExactGPRefinedContract(BackboneContract):
    atol = 1e-5

    def make_backbone(self, seed: int) -> ProbabilisticBackbone:
        return ExactGP(kernel="rbf", refine_steps=3)


# ------------------------------------------------------------------------- MixturePrediction
def _mixture(s: int, b: int, n: int, seed: int) -> MixturePrediction:
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(s, b, n, generator=g, dtype=torch.float64)
    variances = torch.rand(s, b, n, generator=g, dtype=torch.float64) + 0.1
    return MixturePrediction(means, variances)


@given(s=st.integers(1, 5), b=st.integers(1, 3), n=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_mixture_moments_match_dense_formula(s: int, b: int, n: int, seed: int) -> None:
    pred = _mixture(s, b, n, seed)
    mean = sum(pred.means[k] for k in range(s)) / s
    second = sum(pred.variances[k] + pred.means[k] ** 2 for k in range(s)) / s
    torch.testing.assert_close(pred.mean, mean)
    torch.testing.assert_close(pred.variance, second - mean**2)
    # Defect 12.9: the between-sample spread is kept even for a single-function batch.
    assert bool((pred.variance >= pred.variances.mean(0) - 1e-12).all())


def test_single_function_batch_keeps_between_sample_variance() -> None:
    means = torch.tensor([[[0.0]], [[2.0]]])  # S = 2, B = 1, n = 1
    pred = MixturePrediction(means, torch.ones_like(means))
    assert pred.variance.item() == pytest.approx(1.0 + 1.0)


def test_mixture_samples_have_mixture_moments() -> None:
    pred = _mixture(3, 2, 4, seed=1)
    samples = pred.sample(40_000, generator=torch.Generator().manual_seed(0))
    se_mean = (pred.variance / 40_000).sqrt()
    assert bool(((samples.mean(0) - pred.mean).abs() < 5 * se_mean).all())
    torch.testing.assert_close(samples.var(0), pred.variance, rtol=0.05, atol=0.0)


def test_mixture_samples_are_multimodal() -> None:
    """Exact mixture sampling (not one Gaussian with averaged moments): two well separated modes."""
    means = torch.tensor([-5.0, 5.0], dtype=torch.float64).reshape(2, 1, 1)
    pred = MixturePrediction(means, torch.full_like(means, 0.01))
    samples = pred.sample(2000, generator=torch.Generator().manual_seed(0))
    assert bool(((samples.abs() - 5.0).abs() < 0.6).all())
    frac = (samples > 0).double().mean().item()
    assert abs(frac - 0.5) < 4 * math.sqrt(0.25 / 2000)


def test_dense_covariance_sampling() -> None:
    g = torch.Generator().manual_seed(3)
    a = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64)
    cov = a @ a.transpose(-1, -2) + 0.1 * torch.eye(3, dtype=torch.float64)
    means = torch.randn(1, 2, 3, generator=g, dtype=torch.float64)
    pred = MixturePrediction(means, cov.diagonal(dim1=-2, dim2=-1), cov)
    samples = pred.sample(40_000, generator=torch.Generator().manual_seed(1))
    centred = samples - means[0]
    emp = torch.einsum("sbi,sbj->bij", centred, centred) / samples.shape[0]
    torch.testing.assert_close(emp, cov[0], rtol=0.0, atol=0.08 * cov.abs().max().item())


def test_take_restricts_points_and_covariance() -> None:
    cov = torch.arange(16.0).reshape(1, 1, 4, 4)
    pred = MixturePrediction(torch.arange(4.0).reshape(1, 1, 4), torch.ones(1, 1, 4), cov)
    sub = pred.take(torch.tensor([1, 3]))
    assert sub.means.tolist() == [[[1.0, 3.0]]]
    assert sub.covariances is not None
    assert sub.covariances.tolist() == [[[[5.0, 7.0], [13.0, 15.0]]]]


@pytest.mark.parametrize(
    ("means", "variances", "cov"),
    [
        (torch.zeros(2, 3), torch.ones(2, 3), None),
        (torch.zeros(1, 2, 3), torch.ones(1, 2, 4), None),
        (torch.zeros(1, 2, 3), torch.ones(1, 2, 3), torch.ones(1, 2, 3, 2)),
    ],
)
def test_mixture_rejects_bad_shapes(
    means: torch.Tensor, variances: torch.Tensor, cov: torch.Tensor | None
) -> None:
    with pytest.raises(ValueError, match="shape"):
        MixturePrediction(means, variances, cov)
