"""Read a Gaussian prior N(μ, Σ) from whatever the user has, without densifying it.

Accepted: tensors / numpy arrays (μ (..., n) with a variance d (..., n) or a covariance
Σ (..., n, n) or a ``linear_operator.LinearOperator``); ``torch.distributions`` ``Normal``,
``Independent(Normal)``, ``MultivariateNormal`` (its ``scale_tril`` is used as the factor),
``LowRankMultivariateNormal`` (diag + U Uᵀ); GPyTorch ``MultivariateNormal`` and
``MultitaskMultivariateNormal`` through their ``lazy_covariance_matrix``. A multitask event is
flattened to n = n_data · n_tasks in GPyTorch's covariance order ``mvn.loc``:
``mvn.mean.reshape(..., -1)`` (data-major) when interleaved (the default), else
``mvn.mean.mT.reshape(..., -1)`` (task-major).

Default validation is O(size of what was passed densely) + O(n): shapes, finiteness, a
non-negative diagonal and, for a dense Σ, symmetry. ``validate="full"`` adds the O(n³)
positive-semi-definiteness check (densifying a lazy operator to do it).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor
from torch.distributions import (
    Distribution,
    Independent,
    LowRankMultivariateNormal,
    MultivariateNormal,
    Normal,
)

from pcml.constraints._checks import (
    as_tensor,
    check_finite,
    check_nonnegative,
    check_symmetric,
    output_dtype,
    psd_factor,
)
from pcml.constraints._covariance import Dense, Diagonal, LowRank, Operator, PriorCovariance

__all__ = ["Validate", "read_prior"]

Validate = Literal["cheap", "full"]
_F64 = torch.float64


def _is_operator(x: Any) -> bool:
    return type(x).__module__.startswith("linear_operator.") or any(
        c.__module__.startswith("linear_operator.") for c in type(x).__mro__
    )


def _from_operator(op: Any, n: int, validate: Validate) -> PriorCovariance:
    """Structure of a LinearOperator Σ: diagonal, dense, low-rank + diagonal, or generic."""
    from linear_operator.operators import (
        AddedDiagLinearOperator,
        DenseLinearOperator,
        DiagLinearOperator,
        RootLinearOperator,
    )

    if op.shape[-2:] != (n, n):
        raise ValueError(
            f"covariance: expected shape (..., n, n) with n = {n} from mean, got {tuple(op.shape)}"
        )
    op = op.to(dtype=_F64)
    if isinstance(op, DiagLinearOperator):
        return Diagonal(op.diagonal(), name="covariance")
    if isinstance(op, DenseLinearOperator):
        return Dense(op.tensor, name="covariance")
    if (
        isinstance(op, AddedDiagLinearOperator)
        and isinstance(op._diag_tensor, DiagLinearOperator)
        and isinstance(op._linear_op, RootLinearOperator)
        and op._linear_op.root.shape[-1] < n
    ):
        return LowRank(op._diag_tensor.diagonal(), op._linear_op.root.to_dense())
    return Operator(op)


def _check_cov(cov: PriorCovariance, validate: Validate) -> PriorCovariance:
    diag = cov.diagonal()
    check_finite(f"{cov.name} (diagonal)", diag)
    check_nonnegative(f"{cov.name} (diagonal)", diag)
    if validate == "full":
        factor = psd_factor(cov.name, 0.5 * (cov.to_dense() + cov.to_dense().mT), dtype=_F64)
        if isinstance(cov, Dense) and cov.cov is not None:
            tril = bool(torch.equal(factor, factor.tril()))
            return Dense(cov.cov, factor, cov.name, tril=tril)
    return cov


def _dense_covariance(value: Any, like: Tensor, n: int) -> PriorCovariance:
    mat = as_tensor("covariance", value, like=like)
    if mat.ndim < 2 or mat.shape[-2:] != (n, n):
        raise ValueError(
            f"covariance: expected shape (..., n, n) with n = {n} from mean, got {tuple(mat.shape)}"
        )
    check_finite("covariance", mat)
    check_symmetric("covariance", mat, dtype=output_dtype(mat))
    return Dense(mat.to(_F64))  # symmetric to 100 ulp; Cholesky reads one triangle


def _unpack(prior: Any) -> tuple[Tensor, PriorCovariance | None, Any]:
    """(μ, structure or None, raw covariance or None) of a distribution."""
    if hasattr(type(prior), "lazy_covariance_matrix"):  # GPyTorch (multitask) MVN
        if not getattr(prior, "islazy", True):
            # built from a dense tensor: torch has already computed its Cholesky factor
            return prior.loc, Dense(None, prior.scale_tril.to(_F64)), None
        return prior.loc, None, prior.lazy_covariance_matrix
    if isinstance(prior, Independent) and isinstance(prior.base_dist, Normal):
        prior = prior.base_dist
    if isinstance(prior, Normal):
        return prior.loc, Diagonal(prior.scale.to(_F64).square(), name="mean.scale"), None
    if isinstance(prior, LowRankMultivariateNormal):
        d, U = prior.cov_diag.to(_F64), prior.cov_factor.to(_F64)
        return prior.loc, LowRank(d, U), None
    if isinstance(prior, MultivariateNormal):
        return prior.loc, Dense(None, prior.scale_tril.to(_F64)), None
    raise ValueError(
        "mean: expected a tensor, a numpy array or a torch.distributions / GPyTorch Normal, "
        f"MultivariateNormal, LowRankMultivariateNormal, got {type(prior).__name__}"
    )


def read_prior(
    mean: Any, variance: Any, covariance: Any, validate: Validate
) -> tuple[Tensor, PriorCovariance]:
    """Return μ (..., n) as given (dtype kept) and the float64 covariance structure of Σ."""
    if validate not in ("cheap", "full"):
        raise ValueError(f"validate: expected 'cheap' or 'full', got {validate!r}")
    cov: PriorCovariance | None = None
    if isinstance(mean, Distribution):
        if variance is not None or covariance is not None:
            raise ValueError("variance/covariance: must be None when mean is a distribution")
        mean, cov, covariance = _unpack(mean)
    mu = as_tensor("mean", mean)
    if mu.ndim < 1 or mu.shape[-1] < 1:
        raise ValueError(f"mean: expected shape (..., n) with n ≥ 1, got {tuple(mu.shape)}")
    check_finite("mean", mu)
    n = mu.shape[-1]
    if cov is None:
        if (variance is None) == (covariance is None):
            raise ValueError("variance, covariance: pass exactly one of them")
        if variance is not None:
            var = as_tensor("variance", variance, like=mu)
            if var.ndim < 1 or var.shape[-1] != n:
                raise ValueError(
                    f"variance: expected shape (..., n) with n = {n} from mean, "
                    f"got {tuple(var.shape)}"
                )
            cov = Diagonal(var.to(_F64))
        elif _is_operator(covariance):
            cov = _from_operator(covariance, n, validate)
        else:
            cov = _dense_covariance(covariance, mu, n)
    return mu, _check_cov(cov, validate)
