"""SoftC PDE residuals of a predicted mean μ(t, x) for the ProbConserv problems (reference §4).

Diffusive (GPME) problems:   r = μ_t − ∂_x(k(μ; θ) μ_x)
    diffusion  k = c,   PME  k = relu(μ)^m,   Stefan  k = k_max · 1[μ ≥ u*] (k_max = 1)
Transport problems:          r = μ_t + s(μ; θ) μ_x
    advection  s = a,   Burgers  s = μ            (r = μ_t + μ μ_x)

Derivatives are taken by torch autograd with respect to the query inputs (t, x) with
``create_graph=True``, so the penalty λ·mean(r²) can be trained through (SoftC-ANP).

Differences from the original ``deep_pdes`` penalties, on purpose:

- every function uses its own parameter: θ of shape ``(B,)`` is broadcast as ``(B, 1)`` against
  ``(B, n)``. The original advection penalty multiplied a ``(nf, 1, 1, 1)`` speed with a
  ``(nf, N, 1)`` gradient, giving ``(nf, nf, N, 1)``: each function's residual mixed every other
  function's speed, so exact solutions had a non-zero penalty (reference defect 12.4);
- relu(μ)^m is evaluated with a guarded power: the plain ``relu(μ) ** m`` gives NaN weight
  gradients (0·∞ in the second-order graph) where μ ≤ 0 for 0 < m < 1.

Derivatives come from ``grad(Σ μ, inputs)``: this is ∂μ_i/∂(t_i, x_i) exactly when μ at query i
depends on query i's input only (true for an ANP whose latent is conditioned on the contexts and
whose deterministic path cross-attends from each query separately). A mean that couples queries
(e.g. a latent conditioned on the targets' inputs) also receives the cross terms, as in the
original code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from pcml.pdes.gpme import ConservationProblem

__all__ = ["RESIDUALS", "ResidualSpec", "pde_residual"]

Coefficient = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class ResidualSpec:
    """One residual: ``form`` ("diffusive" | "transport") and ``coefficient(μ (B, n), θ (B, 1))
    -> (B, n)``, the conductivity k for diffusive forms, the speed s for transport forms."""

    form: str
    coefficient: Coefficient
    formula: str


def _constant(mu: Tensor, theta: Tensor) -> Tensor:
    return theta.expand_as(mu)


def _pme_conductivity(mu: Tensor, m: Tensor) -> Tensor:
    positive = mu > 0
    safe = torch.where(positive, mu, torch.ones_like(mu))
    return torch.where(positive, safe**m, torch.zeros_like(mu))


def _stefan_conductivity(mu: Tensor, u_star: Tensor, k_max: float = 1.0) -> Tensor:
    return k_max * (mu >= u_star).to(mu.dtype)


def _burgers_speed(mu: Tensor, theta: Tensor) -> Tensor:
    return mu


RESIDUALS: dict[str, ResidualSpec] = {
    "diffusion": ResidualSpec("diffusive", _constant, "μ_t − c μ_xx"),
    "pme": ResidualSpec("diffusive", _pme_conductivity, "μ_t − ∂_x(relu(μ)^m μ_x)"),
    "stefan": ResidualSpec("diffusive", _stefan_conductivity, "μ_t − ∂_x(1[μ ≥ u*] μ_x)"),
    "advection": ResidualSpec("transport", _constant, "μ_t + a μ_x"),
    "burgers": ResidualSpec("transport", _burgers_speed, "μ_t + μ μ_x"),
}


def _grad(out: Tensor, z: Tensor) -> Tensor:
    """∂(Σ out)/∂z with a trainable graph; zeros where ``out`` does not depend on ``z``."""
    if not out.requires_grad:
        return torch.zeros_like(z)
    (g,) = torch.autograd.grad(out.sum(), z, create_graph=True, allow_unused=True)
    return torch.zeros_like(z) if g is None else g


def pde_residual(
    problem: ConservationProblem | str,
    mean_fn: Callable[[Tensor], Tensor],
    inputs: Tensor,
    params: Tensor,
) -> Tensor:
    """SoftC residual r(t, x) of the mean ``mean_fn`` at ``inputs``.

    ``inputs: (B, n, 2)`` query points (t, x); ``mean_fn: (B, n, 2) -> (B, n, 1)`` the predicted
    mean μ; ``params: (B,)`` one θ per function (c, m, u*, a; ignored by Burgers). Returns
    ``r: (B, n)`` in the dtype of ``inputs``, differentiable (create_graph=True). The inputs are
    detached and re-marked as requiring grad: r is differentiated with respect to the model, not
    with respect to whatever produced ``inputs``.
    """
    name = problem.name if isinstance(problem, ConservationProblem) else problem
    if name not in RESIDUALS:
        raise ValueError(f"unknown problem {name!r}; expected one of {sorted(RESIDUALS)}")
    spec = RESIDUALS[name]
    if not isinstance(inputs, Tensor) or inputs.ndim != 3 or inputs.shape[-1] != 2:
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ValueError(f"inputs must be a tensor of shape (B, n, 2) [(t, x)]; got {shape}")
    if not inputs.is_floating_point():
        raise ValueError(f"inputs must be a floating tensor; got dtype {inputs.dtype}")
    batch, n = inputs.shape[0], inputs.shape[1]
    theta = torch.as_tensor(params, dtype=inputs.dtype, device=inputs.device)
    if theta.shape != (batch,):
        raise ValueError(
            f"params must have shape (B,) = ({batch},), one parameter per function; "
            f"got {tuple(theta.shape)}"
        )
    z = inputs.detach().requires_grad_(True)
    mean = mean_fn(z)
    if not isinstance(mean, Tensor) or mean.shape != (batch, n, 1):
        shape = tuple(mean.shape) if isinstance(mean, Tensor) else type(mean).__name__
        raise ValueError(f"mean_fn must return shape (B, n, 1) = ({batch}, {n}, 1); got {shape}")
    mu = mean[..., 0]
    theta = theta[:, None]
    g = _grad(mu, z)
    mu_t, mu_x = g[..., 0], g[..., 1]
    coef = spec.coefficient(mu, theta)
    if spec.form == "transport":
        return mu_t + coef * mu_x
    flux_x = _grad(coef * mu_x, z)[..., 1]
    return mu_t - flux_x
