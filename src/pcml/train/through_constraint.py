r"""Training a UQ operator *through* the ProbConserv update (the ProbHardE2E idea).

For a batch with inputs a, targets u and masses b, the loss is the mean closed-form CRPS of the
conserved predictive:

    N(μ̃, Σ̃) = N(mean, diag variance | G u = b),     loss = mean_i CRPS(N(μ̃_i, Σ̃_ii), u_i),

with (mean, variance) the mixture moments of ``model.components(a)`` and
:func:`pcml.models.uq_operators.conserve_prediction` the exact, differentiable update (float64).
CRPS is a strictly proper scoring rule, so the model is trained for the distribution it is
evaluated with after the update; the post-hoc alternative trains on the model's own loss and
applies the update only at test time (reference §7.5, defect 12.6).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from pcml.metrics.probabilistic import crps_gaussian
from pcml.models.base import MixturePrediction
from pcml.models.uq_operators import UQOperator, conserve_prediction

__all__ = ["conserved_crps_loss"]

#: Variances below this are raised to it inside the CRPS (a hard constraint can leave a node with
#: zero posterior variance only if one weight carries the whole integral).
VARIANCE_FLOOR = 1e-12


def conserved_crps_loss(
    g: Tensor, *, joint: bool = False, noise_var: float = 0.0
) -> Callable[[nn.Module, dict[str, Tensor]], Tensor]:
    """``loss(model, batch)`` for :func:`pcml.train.fit`: CRPS of the conserved predictive.

    g: ``(n_x,)`` quadrature weights of the x grid; batch: ``{"a": (B, C_in, n_x, n_t),
    "y": (B, 1, n_x, n_t), "b": (B, n_t)}``; ``joint``/``noise_var`` as in ``conserve_prediction``.
    """

    def loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        if not isinstance(model, UQOperator):
            raise ValueError(f"model: expected a UQOperator, got {type(model).__name__}")
        mu, var = model.components(batch["a"])
        pred = MixturePrediction(mu.flatten(2), var.flatten(2))
        post = conserve_prediction(pred, g, batch["b"], joint=joint, noise_var=noise_var)
        y = batch["y"].flatten(1).to(torch.float64)
        crps = crps_gaussian(post.mean[0], post.variances[0].clamp_min(VARIANCE_FLOOR), y)
        return crps.mean().to(mu.dtype)

    return loss
