"""ConservedPosterior: the Gaussian N(μ̃, Σ̃) after conditioning on G u + ε = b, as a
``torch.distributions.Distribution`` (event shape (n,), batch shape ``...``).

Stored in the scaled form of :mod:`pcml.constraints.conservation`: Σ̃ = s (Σ' − WᵀW), never dense.

Densities. With δ = y − μ̃:

* σ_G > 0 (R positive definite): Σ̃ is non-singular and, by the matrix determinant lemma and
  Σ̃⁻¹ = Σ⁻¹ + GᵀR⁻¹G,

      log p(y) = −½ [n log 2π + log det Σ + log det R − log det S + δᵀΣ⁻¹δ + (Gδ)ᵀR⁻¹(Gδ)].

* σ_G = 0 (R = 0): Σ̃ has rank n − m and the posterior lives on the affine subspace
  A = {u : G u = b}. ``log_prob`` is the density with respect to the (n − m)-dimensional Lebesgue
  (Hausdorff) measure on A — the pseudo-determinant density of N(μ̃, Σ̃) —,

      log p(y) = −½ [(n − m) log 2π + log det⁺ Σ̃ + δᵀΣ⁻¹δ],
      log det⁺ Σ̃ = log det Σ − log det(G Σ Gᵀ) + log det(G Gᵀ),

  (δᵀΣ̃⁺δ = δᵀΣ⁻¹δ for δ in the null space of G), and −inf off A (relative residual
  |G y − b| > 1e3·eps of the dtype of y). ``entropy`` is the matching differential entropy
  ½[(n − m)(1 + log 2π) + log det⁺ Σ̃], resp. ½[n(1 + log 2π) + log det Σ̃].

Both need a non-singular prior Σ (ValueError otherwise); mean, variance, samples do not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

from pcml.constraints._checks import as_tensor
from pcml.constraints._covariance import Dense, Diagonal, PriorCovariance

__all__ = ["ConservedPosterior", "colsub", "rowdot", "tri_solve"]

_F64 = torch.float64
_LOG_2PI = math.log(2 * math.pi)
#: Largest dense covariance_matrix that is built (bytes, float64).
DENSE_LIMIT_BYTES = 16 * 2**30


class ConservedPosterior(Distribution):
    """N(μ̃, Σ̃) after conditioning N(μ, Σ) on G u + ε = b; built by :func:`conserve`.

    Public: ``mean`` μ̃ (..., n), ``variance`` diag Σ̃ (..., n), ``stddev``,
    ``covariance_matrix`` Σ̃ (..., n, n) (dense, on request only; also ``covariance()``),
    ``rsample`` / ``sample`` (exact, by sample-then-condition; rsample is differentiable),
    ``condition_samples`` (the same map applied to your own prior draws), ``log_prob``,
    ``entropy``, ``confidence_region``, ``constraint_residual``. ``G`` (..., m, n) and ``b``
    (..., m) are the float64 constraint as given; ``mean64`` is μ̃ in float64.

    Example::

        post = conserve(torch.zeros(5), torch.ones(5), G=torch.ones(5), b=1.0)
        y = post.rsample((100,))            # every row sums to 1
        post.log_prob(y)                    # density on {u : Σ u = 1}
    """

    arg_constraints: ClassVar[dict[str, Any]] = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        *,
        prior_mean: Tensor,
        cov: PriorCovariance,
        scale: Tensor,
        G: Tensor,
        b: Tensor,
        G1: Tensor,
        j: Tensor,
        bs: Tensor,
        noise_factor: Tensor | None,
        noise_logdet: Tensor | None,
        L: Tensor,
        W: Tensor,
        mean64: Tensor,
        dtype: torch.dtype,
    ) -> None:
        self.prior_mean, self._cov, self._scale = prior_mean, cov, scale
        self.G, self.b, self._G1, self._j, self._bs = G, b, G1, j, bs
        self.noise_factor, self._noise_logdet = noise_factor, noise_logdet
        self.L, self.W, self.mean64, self.dtype = L, W, mean64, dtype
        super().__init__(
            torch.Size(mean64.shape[:-1]), torch.Size(mean64.shape[-1:]), validate_args=False
        )

    # -- shapes and compatibility ---------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of unknowns per slice."""
        return int(self.mean64.shape[-1])

    @property
    def m(self) -> int:
        """Number of constraints per slice."""
        return int(self.G.shape[-2])

    @property
    def is_diagonal(self) -> bool:
        """True when the prior covariance was diagonal."""
        return isinstance(self._cov, Diagonal)

    @property
    def is_degenerate(self) -> bool:
        """True for the hard constraint R = 0 (σ_G = 0): the posterior lives on {G u = b}."""
        return self.noise_factor is None

    @property
    def prior_var(self) -> Tensor | None:
        """The prior variance d (..., n) (float64) for a diagonal prior, else None."""
        if not isinstance(self._cov, Diagonal):
            return None
        return self._cov.d * self._scale.unsqueeze(-1)

    @property
    def prior_cov(self) -> Tensor | None:
        """The dense prior Σ (..., n, n) for a dense prior, else None."""
        if not isinstance(self._cov, Dense):
            return None
        return self._cov.to_dense() * self._scale[..., None, None]

    @property
    def prior_factor(self) -> Tensor | None:
        """F (..., n, n) with F Fᵀ = Σ for a non-diagonal prior (O(n³) on request), else None."""
        if self.is_diagonal:
            return None
        return self._cov.dense_factor() * self._scale[..., None, None].sqrt()

    # -- moments --------------------------------------------------------------------------
    @property
    def mean(self) -> Tensor:
        """μ̃: (..., n)."""
        return self.mean64.to(self.dtype)

    @property
    def variance(self) -> Tensor:
        """diag Σ̃ = s (diag Σ' − Σ_k W_k²): (..., n), clamped at 0 against round-off; O(n·m)."""
        diag = self._cov.diagonal()
        if self.m == 1:
            w = self.W.squeeze(-2)
            v = torch.addcmul(diag, w, w, value=-1.0)
        else:
            v = diag - self.W.square().sum(-2)
        return v.mul_(self._scale.unsqueeze(-1)).clamp_(min=0.0).to(self.dtype)

    @property
    def covariance_matrix(self) -> Tensor:
        """Σ̃ = s (Σ' − WᵀW) as a dense (..., n, n) matrix (O(n²) memory: on request only).

        Refused with a ValueError above ``DENSE_LIMIT_BYTES`` (16 GiB) instead of a raw
        allocation error; ``variance``, ``rsample`` and ``log_prob`` never build it."""
        need = math.prod(self.batch_shape) * self.n * self.n * 8
        if need > DENSE_LIMIT_BYTES:
            raise ValueError(
                f"covariance_matrix: the dense {(*self.batch_shape, self.n, self.n)} float64 "
                f"matrix needs {need / 2**30:.3g} GiB (limit {DENSE_LIMIT_BYTES / 2**30:.0f} "
                "GiB); use variance, rsample, log_prob or condition_samples, which never build it"
            )
        cov = (self._cov.to_dense() - self.W.mT @ self.W) * self._scale[..., None, None]
        return cov.to(self.dtype)

    def covariance(self) -> Tensor:
        """Same as :attr:`covariance_matrix` (kept for backward compatibility)."""
        return self.covariance_matrix

    def confidence_region(self, num_std: float = 2.0) -> tuple[Tensor, Tensor]:
        """(μ̃ − k σ̃, μ̃ + k σ̃) elementwise, k = ``num_std`` (GPyTorch's convention, k = 2)."""
        half = num_std * self.variance.sqrt()
        return self.mean - half, self.mean + half

    def constraint_residual(self) -> Tensor:
        """G μ̃ − b: (..., m). Zero to round-off when R = 0; R S⁻¹(Gμ − b) in general."""
        return (torch.einsum("...kn,...n->...k", self.G, self.mean64) - self.b).to(self.dtype)

    # -- samples --------------------------------------------------------------------------
    def _condition(self, u: Tensor, scaled_noise: Tensor | None) -> Tensor:
        r = rowdot(self._G1, u.unsqueeze(-2)) * self._j.unsqueeze(-1) - self._bs.unsqueeze(-1)
        if scaled_noise is not None:
            r = r + scaled_noise.unsqueeze(-1)
        return colsub(u, self.W, tri_solve(self.L, r))

    def condition_samples(self, prior_samples: Any, noise_samples: Any = None) -> Tensor:
        """y = u − Σ Gᵀ S⁻¹ (G u + ε − b) for prior draws u ~ N(μ, Σ), ε ~ N(0, R).

        prior_samples: u (*s, ..., n); noise_samples: ε (*s, ..., m) (ignored and may be None
        for R = 0; zero if None). Then y ~ N(μ̃, Σ̃) exactly (Matheron's rule); for R = 0 every
        y satisfies G y = b to round-off. Returns (*s, ..., n) in the posterior dtype.
        """
        u = as_tensor("prior_samples", prior_samples, like=self.mean64).to(_F64)
        if u.shape[-1] != self.n:
            raise ValueError(
                f"prior_samples: expected shape (..., n) with n = {self.n}, got {tuple(u.shape)}"
            )
        e = None
        if noise_samples is not None and self.noise_factor is not None:
            eps = as_tensor("noise_samples", noise_samples, like=self.mean64).to(_F64)
            if eps.shape[-1] != self.m:
                raise ValueError(
                    f"noise_samples: expected shape (..., m) with m = {self.m}, "
                    f"got {tuple(eps.shape)}"
                )
            r = self.G.abs().amax(-1)
            e = eps / r * self._j  # the row scaling applied to G and b
        return self._condition(u, e).to(self.dtype)

    def rsample(
        self,
        sample_shape: torch.Size | list[int] | tuple[int, ...] = (),
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Exact, reparameterised y ~ N(μ̃, Σ̃): (*sample_shape, ..., n), sample-then-condition.

        u = μ + F z with F the prior's factor (O(n) diagonal, O(n·k) low rank), ε ~ N(0, R),
        then :meth:`condition_samples`. No factor of the singular Σ̃ is needed; gradients flow
        to μ, Σ, G, b and the noise.
        """
        shape = (*tuple(sample_shape), *self.batch_shape)
        dev = self.mean64.device
        z = torch.randn((*shape, self._cov.base_size), generator=generator, dtype=_F64, device=dev)
        root_s = self._scale.sqrt()
        u = self.prior_mean + root_s.unsqueeze(-1) * self._cov.root_matmul(z)
        e = None
        if self.noise_factor is not None:
            w = torch.randn((*shape, self.m, 1), generator=generator, dtype=_F64, device=dev)
            e = root_s.unsqueeze(-1) * (self.noise_factor @ w).squeeze(-1)
        return self._condition(u, e).to(self.dtype)

    def sample(
        self,
        sample_shape: torch.Size | list[int] | tuple[int, ...] = (),
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """:meth:`rsample` without autograd."""
        with torch.no_grad():
            return self.rsample(sample_shape, generator=generator)

    # -- densities ------------------------------------------------------------------------
    @property
    def _Gs(self) -> Tensor:
        """The scaled rows G' = diag(j) G / ‖G_k‖_∞ (..., m, n), with diag(G'Σ'G'ᵀ + R') = 1."""
        return self._G1 * self._j.unsqueeze(-1)

    def _logdet_S(self) -> Tensor:
        return 2.0 * torch.diagonal(self.L, dim1=-2, dim2=-1).log().sum(-1)

    def _log_pdet(self) -> Tensor:
        """log det⁺ Σ̃ (R = 0) or log det Σ̃ (R > 0), see the module docstring."""
        log_s = self._scale.log()
        base = self._cov.logdet() - self._logdet_S()
        if self.noise_factor is None:
            gram = rowdot(self._Gs, self._Gs)
            gl = torch.linalg.cholesky(gram)
            ld = 2.0 * torch.diagonal(gl, dim1=-2, dim2=-1).log().sum(-1)
            return base + ld + (self.n - self.m) * log_s
        if self._noise_logdet is not None:
            ld_r = self._noise_logdet
        else:
            ld_r = 2.0 * torch.diagonal(self.noise_factor, dim1=-2, dim2=-1).log().sum(-1)
        if not bool(torch.isfinite(ld_r.detach()).all()):
            raise ValueError(
                "noise_var / noise_cov: log_prob and entropy need R = 0 everywhere or R "
                "positive definite everywhere; found R singular, or negligible next to G Σ Gᵀ "
                "(their ratio underflows float64), in part of the batch: use noise_var=0 there"
            )
        return base + ld_r + self.n * log_s

    def entropy(self) -> Tensor:
        """½[k(1 + log 2π) + log det(⁺) Σ̃], k = n − m if R = 0 (on {G u = b}) else n: (...)."""
        k = self.n - self.m if self.noise_factor is None else self.n
        h = 0.5 * (k * (1.0 + _LOG_2PI) + self._log_pdet())
        return h.expand(self.batch_shape).to(self.dtype)

    def log_prob(self, value: Any) -> Tensor:
        """log density of y (*s, ..., n): (*s, ...); see the module docstring for R = 0."""
        y_in = as_tensor("value", value, like=self.mean64)
        if y_in.shape[-1:] != (self.n,):
            raise ValueError(f"value: expected shape (..., {self.n}), got {tuple(y_in.shape)}")
        y = y_in.to(_F64)
        # δ/√s: the quadratic forms of the scaled Σ' and R' without overflow
        delta = (y - self.mean64) / self._scale.sqrt().unsqueeze(-1)
        quad = self._cov.inv_quad(delta)
        if self.noise_factor is None:
            res = torch.einsum("...kn,...n->...k", self._Gs, y) - self._bs
            scale = torch.einsum("...kn,...n->...k", self._Gs.abs(), y.abs()) + self._bs.abs()
            eps = torch.finfo(y_in.dtype if y_in.is_floating_point() else _F64).eps
            off = (res.detach().abs() > 1e3 * eps * scale.detach()).any(-1)
            lp = -0.5 * ((self.n - self.m) * _LOG_2PI + self._log_pdet() + quad)
            lp = torch.where(off, -math.inf, lp)
        else:
            gd = torch.einsum("...kn,...n->...k", self._Gs, delta).unsqueeze(-1)
            nf = self.noise_factor.expand(*gd.shape[:-2], self.m, self.m)
            w = torch.linalg.solve_triangular(nf, gd, upper=False).squeeze(-1)
            quad = quad + w.square().sum(-1)
            lp = -0.5 * (self.n * _LOG_2PI + self._log_pdet() + quad)
        return lp.to(self.dtype)

    # -- re-indexing (mixtures) -----------------------------------------------------------
    def map_tensors(self, fn: Callable[[Tensor, int], Tensor]) -> ConservedPosterior:
        """A posterior with ``fn(tensor, n_tail_dims)`` applied to every batched tensor (e.g. a
        gather over the batch for mixture sampling); ``fn`` must act on the batch axes only."""

        def opt(t: Tensor | None, tail: int) -> Tensor | None:
            return None if t is None else fn(t, tail)

        return ConservedPosterior(
            prior_mean=fn(self.prior_mean, 1),
            cov=self._cov.map(fn),
            scale=fn(self._scale, 0),
            G=fn(self.G, 2),
            b=fn(self.b, 1),
            G1=fn(self._G1, 2),
            j=fn(self._j, 1),
            bs=fn(self._bs, 1),
            noise_factor=opt(self.noise_factor, 2),
            noise_logdet=opt(self._noise_logdet, 0),
            L=fn(self.L, 2),
            W=fn(self.W, 2),
            mean64=fn(self.mean64, 1),
            dtype=self.dtype,
        )

    def __repr__(self) -> str:
        return (
            f"ConservedPosterior(batch_shape={tuple(self.batch_shape)}, n={self.n}, m={self.m}, "
            f"prior={type(self._cov).__name__.lower()}, "
            f"noise={'none' if self.noise_factor is None else 'R'}, dtype={self.dtype})"
        )


def rowdot(A: Tensor, B: Tensor) -> Tensor:
    """A Bᵀ for row blocks A (..., i, n), B (..., j, n) -> (..., i, j).

    Elementwise products and a sum over n when i·j ≤ 16 (several times faster than a batched
    matmul of thin matrices), else a matmul (the branch for ≥ 5 constraint rows).
    """
    if A.shape[-2] * B.shape[-2] <= 16:
        return (A.unsqueeze(-2) * B.unsqueeze(-3)).sum(dim=-1)
    return A @ B.mT


def colsub(u: Tensor, W: Tensor, q: Tensor) -> Tensor:
    """u − Σ_k W_k q_k for u (..., n), W (..., m, n), q (..., m, 1): one pass when m = 1."""
    if W.shape[-2] == 1:
        return torch.addcmul(u, W.squeeze(-2), q.squeeze(-2), value=-1.0)
    return u - (W * q).sum(-2)


def tri_solve(L: Tensor, B: Tensor) -> Tensor:
    """L⁻¹ B for lower-triangular L (..., m, m) and B (..., m, k); a division when m = 1."""
    if L.shape[-1] == 1:
        return B / L
    L = L.expand(*B.shape[:-2], *L.shape[-2:]) if B.ndim > L.ndim else L
    return torch.linalg.solve_triangular(L, B, upper=False)
