"""The ProbConserv update: condition a Gaussian N(μ, Σ) on the linear observation G u + ε = b.

    S  = R + G Σ Gᵀ                       (m×m; R = σ_G² I_m or an explicit noise covariance)
    μ̃ = μ − Σ Gᵀ S⁻¹ (G μ − b)
    Σ̃ = Σ − Σ Gᵀ S⁻¹ G Σ

Shapes: μ (..., n); Σ diagonal d (..., n), dense (..., n, n), low-rank + diagonal or a lazy
``linear_operator`` (see :mod:`pcml.constraints._priors` for every accepted prior); G (n,) for one
constraint or (..., m, n); b (...) for G (n,), else (..., m); R (..., m, m). Batches broadcast.

Implementation (reference §11.1). The system is first scaled, which changes nothing exactly:
Σ' = Σ/s with s = max diag Σ per batch entry, the rows of G divided by their max-norm and then by
√S_kk (Jacobi scaling, so diag S' = 1), b and R scaled alike. With L L ᵀ = S' and W = L⁻¹ G'Σ'
(..., m, n):

    μ̃ = μ − Wᵀ L⁻¹ (G'μ − b'),    Σ̃ = s (Σ' − WᵀW),    var̃_i = s (Σ'_ii − Σ_k W_ki²).

Cost O(n·m² + m³) per slice for a diagonal prior (O(n·m·k) for rank k + diagonal, O(n²·m) for a
dense Σ, which is factorised (one Cholesky, or the prior's own ``scale_tril``) only for draws and
densities). No n×n matrix is formed unless ``covariance_matrix`` is asked for. Computed in float64,
returned in the prior mean's dtype; autograd flows through every output.

Refused with a ``ValueError`` (never NaN): cond(S') > 1e12 (dependent rows of G, or G supported
where Σ vanishes, without noise) — the message names the condition number —, a constraint whose
scaled data overflow float64, and any non-finite result. Differences from the original
``PhysNP._apply_constraint``: no dense n×n Σ, R = σ_G² I (the original used ``ones(m, m)``, defect
12.7), exact samples by sample-then-condition (defect 12.11), errors instead of NaN.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from pcml.constraints._checks import (
    as_tensor,
    broadcast_batch,
    check_finite,
    check_nonnegative,
    check_symmetric,
    output_dtype,
    psd_factor,
)
from pcml.constraints._posterior import ConservedPosterior, colsub, rowdot, tri_solve
from pcml.constraints._priors import Validate, read_prior

__all__ = ["ConservedPosterior", "conserve"]

_F64 = torch.float64
#: Largest condition number of the scaled S' = R' + G'Σ'G'ᵀ that is accepted.
COND_MAX = 1e12


def conserve(
    mean: Tensor | Distribution | Any,
    variance: Tensor | Any | None = None,
    covariance: Tensor | Any | None = None,
    *,
    G: Tensor | Any,
    b: Tensor | float | Any,
    noise_var: Tensor | float = 0.0,
    noise_cov: Tensor | Any | None = None,
    validate: Validate = "cheap",
) -> ConservedPosterior:
    """Condition N(μ, Σ) on G u + ε = b, ε ~ N(0, R); returns the exact posterior N(μ̃, Σ̃).

    mean: μ (..., n) (tensor or numpy array), or a prior distribution: torch ``Normal``,
    ``Independent(Normal)``, ``MultivariateNormal``, ``LowRankMultivariateNormal``, GPyTorch
    ``MultivariateNormal`` / ``MultitaskMultivariateNormal`` (lazy covariances stay lazy; a
    multitask event is flattened in the order of ``mvn.loc``: ``mvn.mean.reshape(..., -1)`` when
    interleaved, the default, else task-major ``mvn.mean.mT.reshape(..., -1)``).
    variance: d (..., n) ≥ 0 for Σ = diag(d); or covariance: Σ (..., n, n) symmetric PSD, a
    tensor or a ``linear_operator.LinearOperator``.
    G: (n,) (one constraint, then b is (...)) or (..., m, n) (then b is (..., m)). Per-slice
    weights g (..., n) are passed as G=g.unsqueeze(-2) with b (..., 1).
    noise_var: σ_G² ≥ 0, scalar or (...), R = σ_G² I_m; 0 is the hard constraint (Σ̃ Gᵀ = 0).
    noise_cov: an explicit R (..., m, m) symmetric PSD instead of noise_var.
    validate: "cheap" (default; O(n·m) plus one pass over dense inputs: shapes, finiteness,
    non-negative diag Σ, symmetry of a dense Σ) or "full" (adds the O(n³) PSD check of Σ).
    Raises ValueError naming the argument for bad input, an ill-conditioned or overflowing system.
    """
    mu_in, cov = read_prior(mean, variance, covariance, validate)
    dtype = output_dtype(mu_in)
    n = mu_in.shape[-1]
    g, bb = _constraint(G, b, mu_in, n)
    m = g.shape[-2]
    batches = {
        "mean": tuple(mu_in.shape[:-1]),
        cov.name: cov.batch_shape,
        "G": tuple(g.shape[:-2]),
        "b": tuple(bb.shape[:-1]),
    }
    nv, R = _noise(noise_var, noise_cov, mu_in, m, batches)
    batch = broadcast_batch(batches)
    mu = mu_in.to(_F64).expand(*batch, n)
    g64, b64 = g.to(_F64), bb.to(_F64)

    with torch.no_grad():
        r = g64.detach().abs().amax(dim=-1)  # row max-norms (..., m)
        zero = r == 0
        if bool(zero.any()):
            raise ValueError(f"G: row {_first(zero)[-1]} is all zeros (batch index {_first(zero)})")
        s = cov.diagonal().detach().amax(dim=-1)
        s = torch.where(s > 0, s, torch.ones_like(s))
    covs = cov.scaled(1.0 / s)
    G1 = g64 / r.unsqueeze(-1)
    vt1 = covs.left_matmul(G1)  # G'Σ' before the Jacobi scaling, (..., m, n)
    A = rowdot(G1, vt1)
    log_s = s.log()
    with torch.no_grad():
        akk = torch.diagonal(A.detach(), dim1=-2, dim2=-1)
        if nv is not None:  # log R1_kk = log σ_G² − 2 log r_k − log s, R1 in G1 units
            ell = nv.detach().log().unsqueeze(-1) - 2 * r.log() - log_s.unsqueeze(-1)
            log_skk = torch.logaddexp(akk.log(), ell)
        elif R is not None:
            R1 = R.detach() / r.unsqueeze(-1) / r.unsqueeze(-2) / s[..., None, None]
            check_finite("noise_cov (scaled by the rows of G and the prior scale)", R1)
            log_skk = (akk + torch.diagonal(R1, dim1=-2, dim2=-1)).log()
        else:
            log_skk = akk.log()
        if bool(torch.isneginf(log_skk).any()):
            idx = _first(torch.isneginf(log_skk))
            raise ValueError(
                f"G: S = R + G Σ Gᵀ is singular (condition number inf at batch index {idx}): "
                "row supported only where the prior variance vanishes, with zero noise"
            )
        log_j = -0.5 * log_skk  # Jacobi scale: diag S' = 1
    j = log_j.exp()
    S = A * j.unsqueeze(-1) * j.unsqueeze(-2)
    noise_factor: Tensor | None = None
    noise_logdet: Tensor | None = None
    if nv is not None:
        const = 2 * log_j - 2 * r.log() - log_s.unsqueeze(-1)
        safe = torch.where(nv > 0, nv, torch.ones_like(nv))
        Rd = torch.where((nv > 0).unsqueeze(-1), (safe.log().unsqueeze(-1) + const).exp(), 0.0)
        S = S + torch.diag_embed(Rd)
        noise_factor = torch.diag_embed(Rd.sqrt())
        noise_logdet = Rd.log().sum(-1)
    elif R is not None:
        Rs = R / r.unsqueeze(-1) / r.unsqueeze(-2) / s[..., None, None]
        Rs = Rs * j.unsqueeze(-1) * j.unsqueeze(-2)
        S = S + Rs
        noise_factor = psd_factor("noise_cov", Rs, dtype=_F64)
    S = 0.5 * (S + S.mT)
    bs = b64 / r * j
    check_finite("b (divided by the row norms of G)", bs)
    L = _cholesky(S.expand(*batch, m, m))
    # W = L⁻¹ diag(j) G1Σ' in one pass over n
    if m == 1:
        W = vt1 * (j.unsqueeze(-1) / L)
    else:
        W = tri_solve(L, torch.diag_embed(j).expand(*batch, m, m)) @ vt1
    W = W.expand(*batch, m, n)
    res = rowdot(G1, mu.unsqueeze(-2)) * j.unsqueeze(-1) - bs.unsqueeze(-1)  # (..., m, 1)
    q = tri_solve(L, res.expand(*batch, m, 1))
    mean64 = colsub(mu, W, q)
    if not bool(torch.isfinite(mean64.detach().sum())):
        raise ValueError(
            "mean: the conditioned mean overflows float64 (|G μ − b| too large for the "
            "representable range); rescale the problem"
        )
    return ConservedPosterior(
        prior_mean=mu,
        cov=covs,
        scale=s,
        G=g64,
        b=b64,
        G1=G1,
        j=j,
        bs=bs,
        noise_factor=noise_factor,
        noise_logdet=noise_logdet,
        L=L,
        W=W,
        mean64=mean64,
        dtype=dtype,
    )


def _first(mask: Tensor) -> tuple[int, ...]:
    return tuple(int(i) for i in torch.nonzero(mask)[0]) if mask.ndim else ()


def _constraint(G: Any, b: Any, mean: Tensor, n: int) -> tuple[Tensor, Tensor]:
    g = as_tensor("G", G, like=mean)
    bb = as_tensor("b", b, like=mean)
    if g.ndim == 0:
        raise ValueError("G: expected shape (n,) or (..., m, n), got a scalar")
    if g.ndim == 1:
        g, bb = g.unsqueeze(0), bb.unsqueeze(-1)
    elif bb.ndim == 0:
        raise ValueError(f"b: expected shape (..., m) for G of shape {tuple(g.shape)}, got ()")
    if g.shape[-1] != n or g.shape[-2] < 1:
        raise ValueError(
            f"G: expected shape (n,) or (..., m, n) with n = {n} from mean, "
            f"got {tuple(as_tensor('G', G).shape)}"
        )
    m = g.shape[-2]
    if bb.shape[-1] != m:
        raise ValueError(
            f"b: expected shape (..., m) with m = {m} rows of G (or (...) for G of shape (n,)), "
            f"got {tuple(as_tensor('b', b).shape)}"
        )
    check_finite("G", g)
    check_finite("b", bb)
    return g, bb


def _noise(
    noise_var: Any, noise_cov: Any, mean: Tensor, m: int, batches: dict[str, tuple[int, ...]]
) -> tuple[Tensor | None, Tensor | None]:
    """(σ_G² (...) or None when all zero, R (..., m, m) or None)."""
    nv = as_tensor("noise_var", noise_var, like=mean)
    check_finite("noise_var", nv)
    check_nonnegative("noise_var", nv)
    if noise_cov is not None:
        if bool((nv != 0).any()):
            raise ValueError("noise_var, noise_cov: pass at most one of them")
        R = as_tensor("noise_cov", noise_cov, like=mean)
        if R.ndim < 2 or R.shape[-2:] != (m, m):
            raise ValueError(
                f"noise_cov: expected shape (..., m, m) with m = {m} rows of G, "
                f"got {tuple(R.shape)}"
            )
        check_finite("noise_cov", R)
        check_symmetric("noise_cov", R, dtype=output_dtype(R))
        R64 = R.to(_F64)
        R64 = 0.5 * (R64 + R64.mT)
        psd_factor("noise_cov", R64, dtype=output_dtype(R))
        batches["noise_cov"] = tuple(R.shape[:-2])
        return None, R64
    batches["noise_var"] = tuple(nv.shape)
    if not bool((nv != 0).any()):
        return None, None
    return nv.to(_F64), None


def _cholesky(S: Tensor) -> Tensor:
    """Cholesky factor of the scaled S' (unit diagonal); ValueError naming cond(S') if too large."""
    m = S.shape[-1]
    if m > 1:
        with torch.no_grad():
            ev = torch.linalg.eigvalsh(S.detach())
            lo, hi = ev[..., 0], ev[..., -1]
            cond = torch.where(lo > 0, hi / lo.clamp_min(torch.finfo(_F64).tiny), math.inf)
            bad = cond > COND_MAX
            if bool(bad.any()):
                raise ValueError(
                    f"G: the scaled constraint system S = R + G Σ Gᵀ has condition number "
                    f"{float(cond[bad].max()):.3e} > {COND_MAX:.0e} (at batch index "
                    f"{_first(bad)}): the rows of G are (nearly) linearly dependent, or G is "
                    "supported only where the prior variance vanishes, and the noise "
                    "(noise_var / noise_cov) is zero or negligible on them"
                )
    L, info = torch.linalg.cholesky_ex(S)
    if bool((info != 0).any()):
        raise ValueError(
            f"G: S = R + G Σ Gᵀ is not positive definite (batch index {_first(info != 0)}); "
            "is the prior covariance positive semi-definite? (check with validate='full')"
        )
    return L
