"""Moments of and exact samples from an equal-weight mixture of Gaussians (§11.2, §11.3).

A model with latent samples z_1..z_S (an ANP, an ensemble) predicts the mixture
p(u) = (1/S) Σ_s N(u; μ_s, Σ_s); after the conservation update each component is conditioned
separately. Its moments are (law of total variance, population spread over the S components):

    loc = (1/S) Σ_s μ_s,      var = (1/S) Σ_s var_s + (1/S) Σ_s (μ_s − loc)².

Differences from the original code (``ANP.get_loc_and_scale``): the spread term always uses the
sample axis, also for a function batch of size 1 (defect 12.9, where it was dropped), and samples
come from the true mixture (pick a component, then sample-then-condition) instead of a single
Gaussian with the averaged covariance that ignores the spread of the means (defect 12.10). The
original's spread was the unbiased variance over samples (factor S/(S−1)); here it is the exact
mixture variance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pcml.constraints._checks import as_tensor, check_finite, check_nonnegative
from pcml.constraints.conservation import ConservedPosterior

__all__ = ["mixture_moments", "sample_mixture"]


def mixture_moments(means: Tensor, variances: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and variance of the equal-weight mixture over the leading (component) axis.

    means, variances: (S, ..., n) component means μ_s and variances var_s (e.g. ``post.mean`` and
    ``post.variance`` of a posterior whose leading batch axis indexes latent samples).
    Returns (loc, var), each (..., n): loc = mean_s μ_s, var = mean_s var_s + mean_s (μ_s − loc)².
    var ≥ mean_s var_s always; for S = 1 the spread term is exactly 0.
    """
    means = as_tensor("means", means)
    variances = as_tensor("variances", variances, like=means)
    if means.ndim < 1 or means.shape[0] < 1:
        raise ValueError(f"means: expected shape (S, ..., n) with S ≥ 1, got {tuple(means.shape)}")
    if variances.shape != means.shape:
        raise ValueError(
            f"variances: expected the shape of means {tuple(means.shape)}, "
            f"got {tuple(variances.shape)}"
        )
    check_finite("means", means)
    check_finite("variances", variances)
    check_nonnegative("variances", variances)
    dtype = means.dtype if means.is_floating_point() else torch.get_default_dtype()
    mu = means.to(torch.float64)
    loc = mu.mean(dim=0)
    spread = (mu - loc).square().mean(dim=0)
    var = variances.to(torch.float64).mean(dim=0) + spread
    return loc.to(dtype), var.to(dtype)


def sample_mixture(
    posterior: ConservedPosterior,
    sample_shape: tuple[int, ...] | torch.Size = (),
    *,
    shared_ndim: int = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Exact samples of (1/S) Σ_s N(μ̃_s, Σ̃_s), the components being the leading batch axis.

    posterior: a :class:`ConservedPosterior` with batch shape (S, *B) (S components, e.g. latent
    samples; diagonal or dense prior). For every sample and every index of B a component s is drawn
    uniformly, then y ~ N(μ̃_s, Σ̃_s) by sample-then-condition (exact, valid at σ_G = 0).
    shared_ndim: the last ``shared_ndim`` axes of B share one component draw (e.g. the time slices
    of one function, which share the latent z); the other axes of B draw independently.
    Returns (*sample_shape, *B, n) in the posterior dtype. Cost: O(n·m) per sample (diagonal).
    """
    batch = posterior.batch_shape
    if len(batch) < 1:
        raise ValueError("posterior: expected a batch shape (S, ...) with a component axis first")
    n_comp, rest = batch[0], batch[1:]
    if not 0 <= shared_ndim <= len(rest):
        raise ValueError(
            f"shared_ndim: expected 0..{len(rest)} for batch {batch}, got {shared_ndim}"
        )
    shape = tuple(sample_shape)
    n_draw = int(torch.Size(shape).numel())
    indep = rest[: len(rest) - shared_ndim]
    dev = posterior.mean64.device
    k = torch.randint(n_comp, (n_draw, *indep), generator=generator, device=dev)
    k = k.reshape(n_draw, *indep, *([1] * shared_ndim)).expand(n_draw, *rest)

    def take(t: Tensor, tail: int) -> Tensor:
        full = t.expand(*batch, *t.shape[t.ndim - tail :])
        idx = k.reshape(*k.shape, *([1] * tail)).expand(
            n_draw, *rest, *full.shape[full.ndim - tail :]
        )
        return full.gather(0, idx)

    chosen = posterior.map_tensors(take)
    y = chosen.rsample((), generator=generator)
    return y.reshape(*shape, *rest, posterior.n)
