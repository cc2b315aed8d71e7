"""HardC: Euclidean projection of the mean onto the constraint set {u : G u = b}.

    μ̃ = μ − Gᵀ (G Gᵀ)⁻¹ (G μ − b)

This is the ProbConserv update with Σ replaced by I and σ_G = 0, applied to the mean only
(``limiting_mode="hcnp"`` in the original code). The baseline keeps the model's variance
unchanged, which is why its log-likelihood suffers: pair the result with the prior variance.
"""

from __future__ import annotations

import torch
from torch import Tensor

from pcml.constraints._checks import as_tensor
from pcml.constraints.conservation import conserve

__all__ = ["project_mean"]


def project_mean(mean: Tensor, G: Tensor, b: Tensor | float) -> Tensor:
    """Closest point to ``mean`` in the Euclidean norm with G u = b exactly.

    mean: (..., n); G: (n,) with b (...), or (..., m, n) with b (..., m) (full row rank).
    Returns (..., n) in the dtype of ``mean`` (float64 inside, differentiable).
    Raises ValueError like :func:`pcml.constraints.conserve` (e.g. dependent rows of G).
    """
    mean = as_tensor("mean", mean)
    return conserve(mean, variance=torch.ones_like(mean), G=G, b=b, noise_var=0.0).mean
