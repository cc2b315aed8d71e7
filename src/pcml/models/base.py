"""The probabilistic-backbone interface of ProbConserv Step 1.

A Step-1 model maps a function's contexts and a set of query points to an equal-weight mixture of S
Gaussians over the solution values at the query points,

    p(u | contexts) = (1/S) Σ_s N(u; μ_s, Σ_s),   Σ_s = diag(σ_s²)  (or dense, optional),

where s indexes latent samples z_s ~ q(z | contexts) (attentive neural process), ensemble members
(deep ensemble) or is the single exact posterior (S = 1, Gaussian process). ProbConserv Step 2
conditions every component on G u = b; the mixture moments are (reference §2.9, §11.3)

    mean = (1/S) Σ_s μ_s,   variance = (1/S) Σ_s σ_s² + (1/S) Σ_s (μ_s − mean)².

The original code dropped the between-sample term whenever the *function* batch had size one
(it tested ``loc.shape[0]`` after averaging over samples, reference defect 12.9) and used the
unbiased (S − 1) normalisation. Here the spread is always taken over the sample axis and uses 1/S,
which is the exact variance of the equal-weight mixture.
"""

from __future__ import annotations

import abc
import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

__all__ = ["MixturePrediction", "ProbabilisticBackbone", "check_point_sets", "eval_mode"]


@dataclass(frozen=True)
class MixturePrediction:
    """Equal-weight mixture of S Gaussians per function over n query points.

    Attributes:
        means: ``(S, B, n)`` component means μ_s.
        variances: ``(S, B, n)`` component marginal variances σ_s² (> 0).
        covariances: optional ``(S, B, n, n)`` dense component covariances Σ_s; when given, their
            diagonals equal ``variances``.
    """

    means: Tensor
    variances: Tensor
    covariances: Tensor | None = None

    def __post_init__(self) -> None:
        if self.means.ndim != 3:
            raise ValueError(f"means must have shape (S, B, n), got {tuple(self.means.shape)}")
        if self.variances.shape != self.means.shape:
            raise ValueError(
                f"variances must have the shape of means {tuple(self.means.shape)}, "
                f"got {tuple(self.variances.shape)}"
            )
        if self.covariances is not None:
            expected = (*self.means.shape, self.means.shape[-1])
            if tuple(self.covariances.shape) != expected:
                raise ValueError(
                    f"covariances must have shape (S, B, n, n) = {expected}, "
                    f"got {tuple(self.covariances.shape)}"
                )

    @property
    def n_components(self) -> int:
        """S, the number of mixture components."""
        return int(self.means.shape[0])

    @property
    def mean(self) -> Tensor:
        """Mixture mean ``(B, n)``: (1/S) Σ_s μ_s."""
        return self.means.mean(dim=0)

    @property
    def variance(self) -> Tensor:
        """Mixture marginal variance ``(B, n)``: mean_s σ_s² + population var_s μ_s."""
        return self.variances.mean(dim=0) + self.means.var(dim=0, unbiased=False)

    @property
    def stddev(self) -> Tensor:
        """Mixture marginal standard deviation ``(B, n)``."""
        return self.variance.sqrt()

    def take(self, index: Tensor) -> MixturePrediction:
        """Restrict to the query points ``index`` (1-D long, length k): shapes ``(S, B, k)``."""
        cov = None
        if self.covariances is not None:
            cov = self.covariances[..., index, :][..., index]
        return MixturePrediction(self.means[..., index], self.variances[..., index], cov)

    def sample(self, n_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """Exact samples ``(n_samples, B, n)`` of the mixture.

        For every (sample, function) a component s is drawn uniformly, then u ~ N(μ_s, Σ_s):
        u = μ_s + σ_s ∘ ε for diagonal components, u = μ_s + L_s ε with L_s = chol(Σ_s) (float64,
        jitter added only if the factorisation fails) for dense ones.
        """
        if n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples}")
        n_comp, batch, n = self.means.shape
        device = self.means.device
        comp = torch.randint(n_comp, (n_samples, batch), generator=generator, device=device)
        eps = torch.randn(
            (n_samples, batch, n), generator=generator, device=device, dtype=self.means.dtype
        )
        b_idx = torch.arange(batch, device=device).expand(n_samples, batch)
        mu = self.means[comp, b_idx]  # (n_samples, B, n)
        if self.covariances is None:
            return mu + self.variances[comp, b_idx].sqrt() * eps
        chol = _cholesky_with_jitter(self.covariances.to(torch.float64))  # (S, B, n, n)
        noise = (chol[comp, b_idx] @ eps.to(torch.float64).unsqueeze(-1)).squeeze(-1)
        return mu + noise.to(self.means.dtype)


def _cholesky_with_jitter(cov: Tensor, max_tries: int = 6) -> Tensor:
    """Cholesky factor of ``cov`` ``(..., n, n)``.

    Only matrices whose factorisation fails get jitter, 10^(k−11)·mean(diag)·I for k = 1, 2, …,
    scaled by their own diagonal, so every matrix's factor depends on that matrix alone.
    """
    chol, info = torch.linalg.cholesky_ex(cov)
    if not bool((info != 0).any()):
        return chol
    scale = cov.diagonal(dim1=-2, dim2=-1).mean(-1).abs().clamp_min(1e-300)
    eye = torch.eye(cov.shape[-1], dtype=cov.dtype, device=cov.device)
    for k in range(1, max_tries + 1):
        failed = info != 0
        jitter = (scale * 10.0 ** (k - 11))[..., None, None]
        retry, retry_info = torch.linalg.cholesky_ex(cov + jitter * eye)
        chol = torch.where(failed[..., None, None], retry, chol)
        info = torch.where(failed, retry_info, info)
        if not bool((info != 0).any()):
            return chol
    raise ValueError(
        "covariance is not positive semi-definite: Cholesky failed even with jitter "
        f"10^{max_tries - 11}·mean(diag)"
    )


def check_point_sets(context_x: Tensor, context_y: Tensor, query_x: Tensor) -> None:
    """Validate ``context_x (B, Nc, d)``, ``context_y (B, Nc, 1)``, ``query_x (B, Nq, d)``."""
    if context_x.ndim != 3:
        raise ValueError(f"context_x must have shape (B, Nc, d), got {tuple(context_x.shape)}")
    b, nc, d = context_x.shape
    if tuple(context_y.shape) != (b, nc, 1):
        raise ValueError(
            f"context_y must have shape (B, Nc, 1) = {(b, nc, 1)}, got {tuple(context_y.shape)}"
        )
    if query_x.ndim != 3 or query_x.shape[0] != b or query_x.shape[2] != d:
        raise ValueError(
            f"query_x must have shape (B, Nq, d) with B={b}, d={d}, got {tuple(query_x.shape)}"
        )
    if nc < 1:
        raise ValueError("context_x must hold at least one context point (Nc >= 1)")


class ProbabilisticBackbone(torch.nn.Module, abc.ABC):
    """Step-1 model: ``(contexts, query points) -> MixturePrediction``.

    Point sets follow the ``(batch, n_points, d)`` convention: inputs are the raw coordinates
    (d = 2 for (t, x)), outputs one scalar per point.
    """

    @abc.abstractmethod
    def predict(
        self,
        context_x: Tensor,
        context_y: Tensor,
        query_x: Tensor,
        n_samples: int = 32,
        generator: torch.Generator | None = None,
    ) -> MixturePrediction:
        """Predictive mixture at ``query_x``.

        Args:
            context_x: ``(B, Nc, d)`` context inputs.
            context_y: ``(B, Nc, 1)`` context values.
            query_x: ``(B, Nq, d)`` query inputs.
            n_samples: number of latent samples for latent-variable models (ignored otherwise).
            generator: RNG for all randomness of the prediction.

        Returns:
            ``MixturePrediction`` with ``means``/``variances`` ``(S, B, Nq)`` in ``query_x.dtype``.

        Inference always runs in eval mode (the module's mode is restored afterwards). Gradient
        tracking is left to the caller: wrap dense-grid predictions in ``torch.no_grad()``.
        """

    @abc.abstractmethod
    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Scalar training loss of a batch with keys ``context_x (B, Nc, d)``,
        ``context_y (B, Nc, 1)``, ``target_x (B, Nt, d)``, ``target_y (B, Nt, 1)``."""

    def _eval_mode(self) -> contextlib.AbstractContextManager[None]:
        return eval_mode(self)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Temporarily switch ``model`` to eval mode; restore every submodule's own flag after."""
    flags = [(m, m.training) for m in model.modules()]
    model.train(False)
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


LOG_2PI = math.log(2.0 * math.pi)
