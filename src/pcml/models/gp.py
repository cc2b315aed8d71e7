"""Exact Gaussian process backbone: one GP posterior per function, conditioned on its contexts.

    u ~ GP(c, σ_f² ρ(r)),  r² = Σ_k (x_k − x'_k)² / ℓ_k²   (ARD over (t, x)),
    ρ_RBF(r) = exp(−r²/2),   ρ_M52(r) = (1 + √5 r + 5r²/3) exp(−√5 r),
    K = σ_f² ρ(C, C) + σ_n² I = L Lᵀ,
    μ(x*) = c + k*ᵀ K⁻¹ (y − c),   Σ(x*, x*') = σ_f² ρ(x*, x*') − k*ᵀ K⁻¹ k*'.

The hyper-parameters θ = (ℓ, σ_f, σ_n, c) are shared across functions and learned by maximising the
summed log marginal likelihood of the training functions (each on its context ∪ target points),

    log p(y | θ) = −½ (y − c)ᵀ K⁻¹ (y − c) − Σ_i log L_ii − (N/2) log 2π,

``loss`` returns −Σ_b log p(y_b | θ) / Σ_b N_b. Optionally θ is refined per function on its own
contexts (``refine_steps`` Adam steps, independent per function) before predicting. All linear
algebra runs in float64 (Cholesky, jitter only when the factorisation fails); outputs come back in
the query dtype. The prediction is for the latent u (no observation noise added). GPyTorch is not
required.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pcml.models.base import (
    MixturePrediction,
    ProbabilisticBackbone,
    _cholesky_with_jitter,
    check_point_sets,
)

__all__ = ["ExactGP"]

_F64 = torch.float64


def _rbf(r2: Tensor) -> Tensor:
    return torch.exp(-0.5 * r2)


def _matern52(r2: Tensor) -> Tensor:
    r = math.sqrt(5.0) * r2.clamp_min(1e-30).sqrt()
    return (1.0 + r + r * r / 3.0) * torch.exp(-r)


_KERNELS: dict[str, Callable[[Tensor], Tensor]] = {"rbf": _rbf, "matern52": _matern52}


def _inv_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class ExactGP(ProbabilisticBackbone):
    """Exact GP with learned shared hyper-parameters; ``predict`` gives S = 1 component.

    Args:
        x_dim: input dimension d.
        kernel: ``"rbf"`` or ``"matern52"``.
        lengthscale, outputscale, noise: initial ℓ (all dims), σ_f², σ_n².
        noise_floor: σ_n² = softplus(raw) + noise_floor (keeps K well conditioned).
        variance_floor: added to predictive variances (and the covariance diagonal).
        refine_steps, refine_lr: per-function Adam refinement of θ on the contexts at ``predict``.
        query_chunk_size: query points per chunk when ``full_cov=False``.
    """

    def __init__(
        self,
        x_dim: int = 2,
        kernel: str = "rbf",
        lengthscale: float = 0.3,
        outputscale: float = 1.0,
        noise: float = 1e-4,
        noise_floor: float = 1e-8,
        variance_floor: float = 1e-10,
        refine_steps: int = 0,
        refine_lr: float = 0.05,
        query_chunk_size: int = 4096,
    ) -> None:
        super().__init__()
        if kernel not in _KERNELS:
            raise ValueError(f"kernel must be one of {sorted(_KERNELS)}, got {kernel!r}")
        if min(lengthscale, outputscale, noise) <= 0:
            raise ValueError("lengthscale, outputscale and noise must be positive")
        self.kernel, self.noise_floor, self.variance_floor = kernel, noise_floor, variance_floor
        self.refine_steps, self.refine_lr = refine_steps, refine_lr
        self.query_chunk_size = query_chunk_size
        self.raw_lengthscale = nn.Parameter(
            torch.full((x_dim,), _inv_softplus(lengthscale), dtype=_F64)
        )
        self.raw_outputscale = nn.Parameter(torch.tensor(_inv_softplus(outputscale), dtype=_F64))
        self.raw_noise = nn.Parameter(torch.tensor(_inv_softplus(noise), dtype=_F64))
        self.constant_mean = nn.Parameter(torch.tensor(0.0, dtype=_F64))

    # ----------------------------------------------------------------------------- hyper-params
    def _raw(self) -> dict[str, Tensor]:
        """Raw θ with a leading broadcast axis: lengthscale ``(1, d)``, others ``(1,)``."""
        return {
            "lengthscale": self.raw_lengthscale.unsqueeze(0),
            "outputscale": self.raw_outputscale.reshape(1),
            "noise": self.raw_noise.reshape(1),
            "mean": self.constant_mean.reshape(1),
        }

    def hyperparameters(self) -> dict[str, Tensor]:
        """Constrained shared θ: lengthscale ``(d,)``, outputscale, noise, mean (scalars)."""
        theta = self._constrain(self._raw())
        return {k: v.detach().squeeze(0) for k, v in theta.items()}

    def _constrain(self, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        return {
            "lengthscale": F.softplus(raw["lengthscale"].to(_F64)),
            "outputscale": F.softplus(raw["outputscale"].to(_F64)),
            "noise": F.softplus(raw["noise"].to(_F64)) + self.noise_floor,
            "mean": raw["mean"].to(_F64),
        }

    def _cov(self, x1: Tensor, x2: Tensor, theta: dict[str, Tensor]) -> Tensor:
        """σ_f² ρ(x1, x2): ``x1 (B, N, d)``, ``x2 (B, M, d)`` float64 -> ``(B, N, M)``."""
        ell = theta["lengthscale"].unsqueeze(-2)  # (B|1, 1, d)
        diff = (x1 / ell).unsqueeze(-2) - (x2 / ell).unsqueeze(-3)
        return theta["outputscale"][:, None, None] * _KERNELS[self.kernel]((diff * diff).sum(-1))

    def _factor(self, x: Tensor, y: Tensor, theta: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """L = chol(K) ``(B, N, N)``, α = L⁻¹(y − c) ``(B, N)``; ``x (B, N, d)``, ``y (B, N)``."""
        k = self._cov(x, x, theta)
        k = k + theta["noise"][:, None, None] * torch.eye(x.shape[-2], dtype=_F64, device=x.device)
        chol = _cholesky_with_jitter(k)
        resid = (y - theta["mean"][:, None]).unsqueeze(-1)
        return chol, torch.linalg.solve_triangular(chol, resid, upper=False).squeeze(-1)

    def log_marginal_likelihood(
        self, x: Tensor, y: Tensor, theta: dict[str, Tensor] | None = None
    ) -> Tensor:
        """log p(y_b | θ) per function ``(B,)`` for ``x (B, N, d)``, ``y (B, N, 1)``."""
        if x.ndim != 3 or tuple(y.shape) != (*x.shape[:2], 1):
            raise ValueError(
                f"need x (B, N, d) and y (B, N, 1), got {tuple(x.shape)}, {tuple(y.shape)}"
            )
        theta = self._constrain(self._raw()) if theta is None else theta
        chol, alpha = self._factor(x.to(_F64), y.squeeze(-1).to(_F64), theta)
        logdet = torch.log(chol.diagonal(dim1=-2, dim2=-1)).sum(-1)
        return -0.5 * (alpha * alpha).sum(-1) - logdet - 0.5 * x.shape[1] * math.log(2 * math.pi)

    def loss(self, batch: dict[str, Tensor]) -> Tensor:
        """−Σ_b log p(y_b | θ) / Σ_b N_b on each function's context ∪ target points."""
        x = torch.cat([batch["context_x"], batch["target_x"]], dim=1)
        y = torch.cat([batch["context_y"], batch["target_y"]], dim=1)
        return -self.log_marginal_likelihood(x, y).sum() / y.shape[0] / y.shape[1]

    def refine(self, context_x: Tensor, context_y: Tensor) -> dict[str, Tensor]:
        """Per-function θ ``(B, ...)`` after ``refine_steps`` Adam steps on each context LML."""
        batch = context_x.shape[0]
        raw = {k: v.detach().expand(batch, *v.shape[1:]).clone() for k, v in self._raw().items()}
        if self.refine_steps > 0:
            params = [p.requires_grad_(True) for p in raw.values()]
            opt = torch.optim.Adam(params, lr=self.refine_lr)
            with torch.enable_grad():
                for _ in range(self.refine_steps):
                    opt.zero_grad()
                    nlml = -self.log_marginal_likelihood(context_x, context_y, self._constrain(raw))
                    nlml.sum().backward()
                    opt.step()
        return {k: v.detach() for k, v in self._constrain(raw).items()}

    # ----------------------------------------------------------------------------- prediction
    def predict(
        self,
        context_x: Tensor,
        context_y: Tensor,
        query_x: Tensor,
        n_samples: int = 32,
        generator: torch.Generator | None = None,
        *,
        full_cov: bool = False,
    ) -> MixturePrediction:
        """Exact posterior at ``query_x``: means/variances ``(1, B, Nq)``, with ``full_cov=True``
        also covariances ``(1, B, Nq, Nq)``. ``n_samples``/``generator`` are unused."""
        check_point_sets(context_x, context_y, query_x)
        with self._eval_mode():
            if self.refine_steps > 0:
                theta = self.refine(context_x, context_y)
            else:
                theta = self._constrain(self._raw())
            cx = context_x.to(_F64)
            chol, alpha = self._factor(cx, context_y.squeeze(-1).to(_F64), theta)
            qx = query_x.to(_F64)
            chunk = qx.shape[1] if full_cov else self.query_chunk_size
            means, variances = [], []
            for start in range(0, qx.shape[1], chunk):
                q = qx[:, start : start + chunk]
                v = torch.linalg.solve_triangular(chol, self._cov(cx, q, theta), upper=False)
                means.append(theta["mean"][:, None] + (v * alpha.unsqueeze(-1)).sum(-2))
                prior_var = theta["outputscale"][:, None].expand(q.shape[0], q.shape[1])
                variances.append((prior_var - (v * v).sum(-2)).clamp_min(0.0) + self.variance_floor)
            mean, var = torch.cat(means, dim=-1), torch.cat(variances, dim=-1)
            cov = None
            if full_cov:
                cov = self._cov(qx, qx, theta) - v.transpose(-1, -2) @ v
                cov = 0.5 * (cov + cov.transpose(-1, -2))
                cov.diagonal(dim1=-2, dim2=-1).copy_(var)
                cov = cov.unsqueeze(0).to(query_x.dtype)
        dtype = query_x.dtype
        return MixturePrediction(mean.unsqueeze(0).to(dtype), var.unsqueeze(0).to(dtype), cov)
