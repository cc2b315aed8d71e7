"""Input validation shared by the constraint modules.

Every check raises a ``ValueError`` that names the argument, reports its shape or offending value
and says what was expected. Checks run on detached tensors, so they never enter the autograd graph.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "as_tensor",
    "broadcast_batch",
    "check_finite",
    "check_nonnegative",
    "check_symmetric",
    "output_dtype",
    "psd_factor",
]


def as_tensor(name: str, value: object, *, like: Tensor | None = None) -> Tensor:
    """Convert ``value`` (tensor, array or number) to a tensor on the device of ``like``."""
    if isinstance(value, Tensor):
        t = value
    else:
        try:
            # via numpy so that Python floats keep float64 precision (torch would make float32)
            t = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError) as err:
            raise ValueError(f"{name}: cannot convert {type(value).__name__} to a tensor") from err
    if t.is_complex():
        raise ValueError(f"{name}: complex tensors are not supported (dtype {t.dtype})")
    if like is not None and t.device != like.device:
        t = t.to(like.device)
    return t


def output_dtype(t: Tensor) -> torch.dtype:
    """The dtype results are returned in: the input's floating dtype, else the default dtype."""
    return t.dtype if t.is_floating_point() else torch.get_default_dtype()


def check_finite(name: str, t: Tensor) -> None:
    """Raise if ``t`` holds NaN or ±inf."""
    if t.numel() == 0 or bool(torch.isfinite(t.detach().sum())):
        return  # one pass: any NaN/inf entry makes the sum non-finite
    bad = ~torch.isfinite(t.detach())
    if bool(bad.any()):
        idx = tuple(int(i) for i in torch.nonzero(bad)[0])
        value = float(t.detach()[idx]) if t.ndim else float(t.detach())
        raise ValueError(
            f"{name}: expected finite values, found {int(bad.sum())} non-finite entr"
            f"{'y' if int(bad.sum()) == 1 else 'ies'} (first at index {idx}: {value}) "
            f"in a tensor of shape {tuple(t.shape)}"
        )


def check_nonnegative(name: str, t: Tensor) -> None:
    """Raise if ``t`` has a negative entry."""
    if t.numel() == 0 or bool(t.detach().amin() >= 0):
        return
    neg = t.detach() < 0
    if bool(neg.any()):
        idx = tuple(int(i) for i in torch.nonzero(neg)[0])
        value = float(t.detach()[idx]) if t.ndim else float(t.detach())
        raise ValueError(
            f"{name}: expected non-negative values, found {value} at index {idx} "
            f"(shape {tuple(t.shape)})"
        )


def check_symmetric(name: str, a: Tensor, *, dtype: torch.dtype) -> None:
    """Raise unless ``a`` (..., k, k) is symmetric to 100 ulp of ``dtype`` relative to max |a|."""
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(
            f"{name}: expected a square matrix (..., k, k), got shape {tuple(a.shape)}"
        )
    ad = a.detach()
    scale = ad.abs().amax(dim=(-2, -1)).clamp_min(torch.finfo(ad.dtype).tiny)
    asym = (ad - ad.mT).abs().amax(dim=(-2, -1)) / scale
    tol = 100.0 * torch.finfo(dtype).eps
    if bool((asym > tol).any()):
        raise ValueError(
            f"{name}: expected a symmetric matrix, relative asymmetry max|A - Aᵀ|/max|A| = "
            f"{float(asym.max()):.3e} exceeds {tol:.1e} (shape {tuple(a.shape)})"
        )


def psd_factor(name: str, a: Tensor, *, dtype: torch.dtype) -> Tensor:
    """Check that the symmetric ``a`` (..., k, k) is positive semi-definite; return F with FFᵀ = a.

    A Cholesky factorisation decides the common (definite) case in O(k³). Batch entries where it
    fails are checked with ``eigh``: the smallest eigenvalue must be ≥ −k·100·eps(dtype)·λ_max, and
    their factor is Q·diag(√λ₊). Singular PSD matrices (e.g. a posterior covariance after a hard
    constraint) are therefore accepted. The factor is differentiable in ``a``.
    """
    factor, info = torch.linalg.cholesky_ex(a)
    failed = info != 0
    if not bool(failed.any()):
        return factor
    eig, vec = torch.linalg.eigh(a[failed])
    lam_max = eig.detach().abs().amax(dim=-1)
    tol = a.shape[-1] * 100.0 * torch.finfo(dtype).eps * lam_max
    bad = eig.detach()[..., 0] < -tol
    if bool(bad.any()):
        raise ValueError(
            f"{name}: expected a symmetric positive (semi-)definite matrix, found smallest "
            f"eigenvalue {float(eig[bad][0, 0]):.3e} (largest {float(lam_max[bad][0]):.3e}) "
            f"in a batch of shape {tuple(a.shape)}"
        )
    fallback = vec * eig.clamp_min(0.0).sqrt().unsqueeze(-2)
    factor = factor.clone()
    factor[failed] = fallback
    return factor


def broadcast_batch(shapes: dict[str, tuple[int, ...]]) -> tuple[int, ...]:
    """Broadcast named batch shapes; on failure, name every argument and its batch shape."""
    try:
        return tuple(torch.broadcast_shapes(*shapes.values()))
    except RuntimeError as err:
        desc = ", ".join(f"{k} batch {v}" for k, v in shapes.items())
        raise ValueError(f"batch dimensions do not broadcast: {desc}") from err
