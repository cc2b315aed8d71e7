"""Prior covariances Σ (..., n, n) behind one interface, so the update never densifies them.

    Diagonal      Σ = diag(d)                 d (..., n)
    Dense         Σ = F Fᵀ                    Σ (..., n, n) and/or a factor F (..., n, n)
    LowRank       Σ = diag(d) + U Uᵀ          d (..., n) > 0, U (..., n, k)
    Operator      Σ = c · A                   A a ``linear_operator.LinearOperator``, c (...)

Each structure gives: diag Σ, A Σ for a thin A (..., m, n), prior draws F z, log det Σ,
δᵀ Σ⁻¹ δ, a copy scaled by a per-batch constant, and the dense Σ on request only. All are
float64. Costs per batch entry: Diagonal O(n), LowRank O(n·k²) (Woodbury, matrix determinant
lemma), Dense O(n²·m) for the products and one Cholesky (O(n³), cached) only when a draw or a
density is asked for, Operator whatever ``linear_operator`` spends on matmul / diagonal (and on
``root_decomposition`` / ``inv_quad_logdet`` for draws and densities: exact Cholesky up to
``linear_operator.settings.max_cholesky_size``, its iterative approximations above).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any

import torch
from torch import Tensor

from pcml.constraints._checks import psd_factor

__all__ = ["Dense", "Diagonal", "LowRank", "Operator", "PriorCovariance"]

_F64 = torch.float64
Mapper = Callable[[Tensor, int], Tensor]


def _singular(name: str, what: str) -> ValueError:
    return ValueError(
        f"{name}: log_prob/entropy need a non-singular prior covariance Σ, but {what}; "
        "mean, variance, covariance_matrix and rsample do not"
    )


class PriorCovariance:
    """Interface; see the module docstring. ``name`` is the user argument it came from."""

    name: str = "covariance"

    @property
    def batch_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def diagonal(self) -> Tensor:
        raise NotImplementedError

    def left_matmul(self, A: Tensor) -> Tensor:
        """A Σ for A (..., m, n) -> (..., m, n)."""
        raise NotImplementedError

    def scaled(self, c: Tensor) -> PriorCovariance:
        """Σ · c with c (...) broadcast over the batch."""
        raise NotImplementedError

    @property
    def base_size(self) -> int:
        """Size k of the standard normal z (…, k) that :meth:`root_matmul` maps to N(0, Σ)."""
        raise NotImplementedError

    def root_matmul(self, z: Tensor) -> Tensor:
        """F z (*s, ..., n) for z (*s, ..., k) with F Fᵀ = Σ (a reparameterised prior draw)."""
        raise NotImplementedError

    def logdet(self) -> Tensor:
        raise NotImplementedError

    def inv_quad(self, delta: Tensor) -> Tensor:
        """δᵀ Σ⁻¹ δ (*s, ...) for δ (*s, ..., n)."""
        raise NotImplementedError

    def to_dense(self) -> Tensor:
        raise NotImplementedError

    def dense_factor(self) -> Tensor:
        """A dense F (..., n, n) with F Fᵀ = Σ (O(n³): on request only)."""
        return psd_factor(self.name, self.to_dense(), dtype=_F64)

    def map(self, fn: Mapper) -> PriorCovariance:
        """Apply ``fn(tensor, n_tail_dims)`` to every stored tensor (gathers for mixtures)."""
        raise ValueError(f"{self.name}: this covariance type cannot be re-indexed")


class Diagonal(PriorCovariance):
    def __init__(self, d: Tensor, name: str = "variance") -> None:
        self.d, self.name = d, name

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self.d.shape[:-1])

    def diagonal(self) -> Tensor:
        return self.d

    def left_matmul(self, A: Tensor) -> Tensor:
        return A * self.d.unsqueeze(-2)

    def scaled(self, c: Tensor) -> Diagonal:
        return Diagonal(self.d * c.unsqueeze(-1), self.name)

    @property
    def base_size(self) -> int:
        return int(self.d.shape[-1])

    def root_matmul(self, z: Tensor) -> Tensor:
        return self.d.sqrt() * z

    def logdet(self) -> Tensor:
        if bool((self.d.detach() <= 0).any()):
            raise _singular(self.name, "it has zero variances")
        return self.d.log().sum(-1)

    def inv_quad(self, delta: Tensor) -> Tensor:
        return (delta.square() / self.d).sum(-1)

    def to_dense(self) -> Tensor:
        return torch.diag_embed(self.d)

    def map(self, fn: Mapper) -> Diagonal:
        return Diagonal(fn(self.d, 1), self.name)


class Dense(PriorCovariance):
    """Σ = c · C with C given densely (``cov``), by a factor F with F Fᵀ = C (``factor``, e.g. a
    prior's own ``scale_tril``), or both; c (...) a constant kept apart (no n×n copy)."""

    def __init__(
        self,
        cov: Tensor | None,
        factor: Tensor | None = None,
        name: str = "covariance",
        c: Tensor | None = None,
        tril: bool = True,
    ) -> None:
        if cov is None and factor is None:
            raise AssertionError("Dense: cov or factor")
        self.cov, self.name = cov, name
        t = cov if cov is not None else factor
        assert t is not None
        self.c = torch.ones(t.shape[:-2], dtype=_F64, device=t.device) if c is None else c
        self._tril = tril  # whether a given factor is lower triangular (a Cholesky factor)
        self._failed: Tensor | None = None  # after map(): slices whose Σ Cholesky failed
        if factor is not None:
            self.__dict__["factor"] = factor  # the prior's own factor: no Cholesky needed

    @property
    def batch_shape(self) -> tuple[int, ...]:
        t = self.cov if self.cov is not None else self.factor
        return tuple(torch.broadcast_shapes(t.shape[:-2], self.c.shape))

    @cached_property
    def _cholesky_ex(self) -> tuple[Tensor, Tensor]:
        assert self.cov is not None
        return torch.linalg.cholesky_ex(self.cov)

    @cached_property
    def factor(self) -> Tensor:
        """F with F Fᵀ = C: the one Cholesky factor; eigh only for a singular PSD C."""
        L, info = self._cholesky_ex
        if not bool((info != 0).any()):
            return L
        self._tril = False
        return psd_factor(self.name, self.cov, dtype=_F64)  # type: ignore[arg-type]

    def diagonal(self) -> Tensor:
        if self.cov is not None:
            diag = torch.diagonal(self.cov, dim1=-2, dim2=-1)
        else:
            diag = self.factor.square().sum(-1)
        return diag * self.c.unsqueeze(-1)

    def left_matmul(self, A: Tensor) -> Tensor:
        if self.cov is not None:
            out = A @ self.cov
        else:
            out = (A @ self.factor) @ self.factor.mT
        return out * self.c[..., None, None]

    def scaled(self, c: Tensor) -> Dense:
        fac = self.__dict__.get("factor")
        return Dense(self.cov, fac, self.name, self.c * c, self._tril)

    @property
    def base_size(self) -> int:
        return int(self.factor.shape[-1])

    def root_matmul(self, z: Tensor) -> Tensor:
        return (self.factor @ z.unsqueeze(-1)).squeeze(-1) * self.c.sqrt().unsqueeze(-1)

    @cached_property
    def _chol(self) -> Tensor:
        if self.cov is None:
            if not self._tril:  # e.g. a singular Σ's eigen factor, carried through map()
                L, info = torch.linalg.cholesky_ex(self.factor @ self.factor.mT)
                failed = info != 0
                if self._failed is not None:  # F Fᵀ may factor by round-off where Σ did not
                    failed = failed | self._failed
                if bool(failed.any()):
                    raise _singular(self.name, "its Cholesky factorisation failed")
                return L
            return self.factor  # torch's scale_tril: lower triangular
        L, info = self._cholesky_ex
        if bool((info != 0).any()):
            raise _singular(self.name, "its Cholesky factorisation failed")
        return L

    def logdet(self) -> Tensor:
        diag = torch.diagonal(self._chol, dim1=-2, dim2=-1)
        if bool((diag.detach() <= 0).any()):
            raise _singular(self.name, "its factor has a zero pivot")
        return 2.0 * diag.log().sum(-1) + diag.shape[-1] * self.c.log()

    def inv_quad(self, delta: Tensor) -> Tensor:
        L = self._chol
        bshape = tuple(L.shape[:-2])
        shape = delta.shape
        lead = shape[: len(shape) - 1 - len(bshape)]
        if tuple(shape[len(lead) : -1]) != bshape:  # batch beyond the factor's: broadcast it
            L = L.expand(*shape[:-1], *L.shape[-2:])
            w = torch.linalg.solve_triangular(L, delta.unsqueeze(-1), upper=False).squeeze(-1)
            return w.square().sum(-1) / self.c
        rhs = delta.reshape(-1, *bshape, shape[-1]).movedim(0, -1)  # (*bshape, n, S)
        w = torch.linalg.solve_triangular(L, rhs, upper=False)
        q = w.square().sum(-2).movedim(-1, 0).reshape(tuple(lead) + bshape)
        return q / self.c

    def to_dense(self) -> Tensor:
        C = self.cov if self.cov is not None else self.factor @ self.factor.mT
        return C * self.c[..., None, None]

    def dense_factor(self) -> Tensor:
        return self.factor * self.c.sqrt()[..., None, None]

    def map(self, fn: Mapper) -> Dense:
        fac = fn(self.factor, 2)
        out = Dense(None, fac, self.name, fn(self.c.expand(self.batch_shape), 0), self._tril)
        failed = self._failed
        if self.cov is not None and not self._tril:  # an eigen factor: Σ's own verdict
            failed = self._cholesky_ex[1] != 0
        if failed is not None:
            out._failed = fn(failed.expand(self.batch_shape), 0)
        return out


class LowRank(PriorCovariance):
    """Σ = diag(d) + U Uᵀ: draws from n + k normals, densities by Woodbury in O(n·k²)."""

    def __init__(self, d: Tensor, U: Tensor, name: str = "covariance") -> None:
        self.d, self.U, self.name = d, U, name

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(torch.broadcast_shapes(self.d.shape[:-1], self.U.shape[:-2]))

    def diagonal(self) -> Tensor:
        return self.d + self.U.square().sum(-1)

    def left_matmul(self, A: Tensor) -> Tensor:
        return A * self.d.unsqueeze(-2) + (A @ self.U) @ self.U.mT

    def scaled(self, c: Tensor) -> LowRank:
        return LowRank(self.d * c.unsqueeze(-1), self.U * c[..., None, None].sqrt(), self.name)

    @property
    def base_size(self) -> int:
        return int(self.d.shape[-1] + self.U.shape[-1])

    def root_matmul(self, z: Tensor) -> Tensor:
        n = self.d.shape[-1]
        return self.d.sqrt() * z[..., :n] + (self.U @ z[..., n:].unsqueeze(-1)).squeeze(-1)

    @cached_property
    def _cap(self) -> Tensor:
        """Cholesky factor of C = I_k + Uᵀ D⁻¹ U (..., k, k)."""
        if bool((self.d.detach() <= 0).any()):
            raise _singular(self.name, "its diagonal part has zeros")
        k = self.U.shape[-1]
        C = torch.eye(k, dtype=_F64, device=self.U.device) + self.U.mT @ (
            self.U / self.d.unsqueeze(-1)
        )
        return torch.linalg.cholesky(C)

    def logdet(self) -> Tensor:
        cap = torch.diagonal(self._cap, dim1=-2, dim2=-1)
        return self.d.log().sum(-1) + 2.0 * cap.log().sum(-1)

    def inv_quad(self, delta: Tensor) -> Tensor:
        w = delta / self.d
        v = (self.U.mT @ w.unsqueeze(-1)).squeeze(-1)  # (*s, ..., k)
        cap = self._cap.expand(*v.shape[:-1], *self._cap.shape[-2:])
        y = torch.linalg.solve_triangular(cap, v.unsqueeze(-1), upper=False).squeeze(-1)
        return (delta * w).sum(-1) - y.square().sum(-1)

    def to_dense(self) -> Tensor:
        return torch.diag_embed(self.d) + self.U @ self.U.mT

    def map(self, fn: Mapper) -> LowRank:
        return LowRank(fn(self.d, 1), fn(self.U, 2), self.name)


class Operator(PriorCovariance):
    """Σ = c · A for a ``linear_operator.LinearOperator`` A (kept lazy), c (...) a constant."""

    def __init__(self, op: Any, c: Tensor | None = None, name: str = "covariance") -> None:
        self.op, self.name = op, name
        self.c = torch.ones(op.shape[:-2], dtype=_F64, device=op.device) if c is None else c

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(torch.broadcast_shapes(self.op.shape[:-2], self.c.shape))

    def diagonal(self) -> Tensor:
        return self.op.diagonal() * self.c.unsqueeze(-1)

    def left_matmul(self, A: Tensor) -> Tensor:
        return self.op.matmul(A.mT).mT * self.c[..., None, None]

    def scaled(self, c: Tensor) -> Operator:
        return Operator(self.op, self.c * c, self.name)

    @cached_property
    def _root(self) -> Tensor:
        return self.op.root_decomposition().root.to_dense()

    @property
    def base_size(self) -> int:
        return int(self._root.shape[-1])

    def root_matmul(self, z: Tensor) -> Tensor:
        return (self._root @ z.unsqueeze(-1)).squeeze(-1) * self.c.unsqueeze(-1).sqrt()

    def logdet(self) -> Tensor:
        _, ld = self.op.inv_quad_logdet(logdet=True)
        return ld + self.op.shape[-1] * self.c.log()

    def inv_quad(self, delta: Tensor) -> Tensor:
        shape, bshape = delta.shape, tuple(self.op.shape[:-2])
        lead = shape[: len(shape) - 1 - len(bshape)]
        if tuple(shape[len(lead) : -1]) != bshape:
            raise ValueError(
                f"{self.name}: log_prob of a batched linear operator needs the batch shape "
                f"{bshape} of the covariance, got points of shape {tuple(shape)}"
            )
        # the sample axes become right-hand-side columns of one solve: (*bshape, n, S)
        rhs = delta.reshape(-1, *bshape, shape[-1]).movedim(0, -1)
        q, _ = self.op.inv_quad_logdet(inv_quad_rhs=rhs, logdet=False, reduce_inv_quad=False)
        return q.movedim(-1, 0).reshape(tuple(lead) + bshape) / self.c

    def to_dense(self) -> Tensor:
        return self.op.to_dense() * self.c[..., None, None]
