"""Inequality post-step for the conserved mean: non-negativity and monotonicity, mass kept exactly.

    u* = argmin_u (u − μ̃)ᵀ Σ̃⁺ (u − μ̃)   over   {G u = b} ∩ C,
    C = {u ≥ 0}  ("nonneg")   or   {u_0 ≥ u_1 ≥ … ≥ u_{n−1} ≥ 0}  ("monotone", as in the original).

On the affine set {G u = b} the Σ̃-metric equals the prior metric up to a constant: for any R,
(u − μ̃)ᵀ Σ̃⁺ (u − μ̃) = (u − μ)ᵀ Σ⁻¹ (u − μ) + const there (Σ̃⁻¹ = Σ⁻¹ + GᵀR⁻¹G when R > 0; Σ̃ is
Σ restricted to ker G when R = 0). So the step solves the convex QP (§11.4)

    min_u (u − μ)ᵀ Σ⁻¹ (u − μ)   subject to   G u = b,  u ∈ C,

which needs no factorisation of the singular Σ̃ and works at σ_G = 0. With R > 0 the result equals
the one of the hard-constrained posterior: G u = b is imposed exactly in every case. Only the mean
changes; keep ``post.variance`` (as the original did). The output is not differentiable.

Fast path (diagonal Σ = diag(d) with d > 0, one row g ≥ 0, as for quadrature weights):
u(λ) = P_C(μ + λ d∘g) with P_C the d⁻¹-weighted projection onto C, i.e. max(0, ·) for "nonneg" and
max(0, PAVA_w(·)) (weighted non-increasing isotonic regression, weights 1/d) for "monotone".
gᵀu(λ) is non-decreasing and piecewise linear in λ; a safeguarded Newton / bisection iteration finds
gᵀu(λ) = b, then a final step along the active linear piece makes gᵀu = b hold to round-off.
Feasible iff b ≥ 0. Cost O(n) per iteration and slice (a handful of iterations).

General path (dense Σ, several rows, weights of both signs, zero variances): per slice, write
u = μ + F z with FFᵀ = Σ, eliminate G u = b through the null space of GF, and solve the remaining
least-distance problem min ‖t‖ s.t. E t ≥ h exactly with Lawson–Hanson NNLS, in units of its
solution (so a mean many prior standard deviations from C is no harder than a near one), then
re-solve it on its active face (so a narrow wedge of constraints is met to round-off). Measured:
a 24-point RBF prior with jitter 1e-12 meets A u ≥ 0 to 7e-12; a mean 1e15 prior standard
deviations behind a wedge is projected exactly. O(n³) per slice in a Python loop: slower, for
small problems.

Differences from the original (``apply_non_linear_ineq_constraint``): the original Cholesky-factors
Σ̃, which fails at σ_G = 0 (defect 12.12), and drops the mass constraint; its ``max_iter`` and
``tol`` were ignored. Infeasible sets raise ``ValueError`` here.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from numpy.typing import NDArray
from scipy.optimize import isotonic_regression, nnls
from torch import Tensor

from pcml.constraints.conservation import ConservedPosterior

__all__ = ["project_inequality"]

Kind = Literal["nonneg", "monotone"]
_KINDS = ("nonneg", "monotone")
_EPS = float(np.finfo(np.float64).eps)
# The λ-search's step bound: Newton crosses at least one kink per step (n of them) and every 4th
# step halves the bracket or doubles the search step, at most ~2100 times each in float64.
_MAX_ITER = 20_000
Array = NDArray[np.float64]


def project_inequality(post: ConservedPosterior, kind: Kind = "nonneg") -> Tensor:
    """Closest point to μ̃ (Σ̃-metric) with G u = b that is ≥ 0 ("nonneg") or non-increasing ≥ 0.

    post: a posterior from :func:`pcml.constraints.conserve` with batch shape ``...``.
    Returns u*: (..., n) in ``post.dtype``. Raises ValueError if the feasible set is empty.
    """
    if not isinstance(post, ConservedPosterior):
        raise ValueError(f"post: expected a ConservedPosterior, got {type(post).__name__}")
    if kind not in _KINDS:
        raise ValueError(f"kind: expected one of {_KINDS}, got {kind!r}")
    batch, n, m = post.batch_shape, post.n, post.m

    def flat(t: Tensor, tail: tuple[int, ...]) -> Array:
        return t.detach().expand(*batch, *tail).reshape(-1, *tail).cpu().numpy()

    mu = flat(post.prior_mean, (n,))
    G = flat(post.G, (m, n))
    b = flat(post.b, (m,))
    d = flat(post.prior_var, (n,)) if post.prior_var is not None else None
    if (
        d is not None
        and m == 1
        and bool((G >= 0).all() and (d > 0).all() and (G > 0).any(-1).all())
    ):
        out = _fast(mu, d, G[:, 0], b[:, 0], kind)
    else:
        if d is not None:
            F = np.sqrt(d)[:, :, None] * np.eye(n)
        else:
            assert post.prior_factor is not None
            F = flat(post.prior_factor, (n, n))
        out = np.stack([_general(mu[i], F[i], G[i], b[i], kind, i) for i in range(mu.shape[0])])
    return torch.from_numpy(out.reshape(*batch, n)).to(device=post.mean64.device, dtype=post.dtype)


def _project(y: Array, d: Array, g: Array, kind: str) -> tuple[Array, Array]:
    """u = P_C(y) and du/dλ for y = μ + λ d∘g, row-wise (B, n)."""
    if kind == "nonneg":
        active = y > 0
        return np.where(active, y, 0.0), np.where(active, d * g, 0.0)
    u = np.empty_like(y)
    du = np.empty_like(y)
    w = 1.0 / d
    for i in range(y.shape[0]):
        res = isotonic_regression(y[i], weights=w[i], increasing=False)
        starts = np.asarray(res.blocks[:-1])
        sizes = np.diff(np.asarray(res.blocks))
        slope = np.add.reduceat(g[i], starts) / np.add.reduceat(w[i], starts)
        x = np.asarray(res.x)
        u[i] = np.maximum(x, 0.0)
        du[i] = np.where(x > 0, np.repeat(slope, sizes), 0.0)
    return u, du


def _fast(mu: Array, d: Array, g: Array, b: Array, kind: str) -> Array:
    """Safeguarded Newton on λ for gᵀ P_C(μ + λ d∘g) = b; rows (B, n)."""
    if bool((b < 0).any()):
        i = int(np.nonzero(b < 0)[0][0])
        raise ValueError(
            f"post: infeasible inequality projection: b = {b[i]:.3e} < 0 at flat batch index {i}, "
            "but g ≥ 0 and u ≥ 0 force G u ≥ 0"
        )
    B = mu.shape[0]
    lam = np.zeros(B)
    lo = np.full(B, -np.inf)
    hi = np.full(B, np.inf)
    gdg = (g * d * g).sum(-1)
    scale = (np.abs(b - (g * mu).sum(-1)) + np.abs(g * mu).sum(-1) + b) / gdg
    scale = np.where(scale > 0, scale, 1.0 / gdg)  # λ has the units of b / gᵀDg
    u = np.empty_like(mu)
    du = np.empty_like(mu)
    f = np.empty(B)
    fp = np.empty(B)
    todo = np.arange(B)
    for it in range(_MAX_ITER):
        if todo.size == 0:
            break
        ut, dut = _project(mu[todo] + lam[todo, None] * d[todo] * g[todo], d[todo], g[todo], kind)
        u[todo], du[todo] = ut, dut
        f[todo] = (g[todo] * ut).sum(-1)
        fp[todo] = (g[todo] * dut).sum(-1)
        ft, lt = f[todo], lam[todo]
        tol = 64 * _EPS * (b[todo] + (g[todo] * np.abs(ut)).sum(-1))
        converged = np.abs(ft - b[todo]) <= tol
        below = ft < b[todo]
        lo[todo] = np.where(below, np.maximum(lo[todo], lt), lo[todo])
        hi[todo] = np.where(~below, np.minimum(hi[todo], lt), hi[todo])
        l, h = lo[todo], hi[todo]
        collapsed = np.isfinite(l) & np.isfinite(h) & (h - l <= 4 * _EPS * (np.abs(l) + np.abs(h)))
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = lt + (b[todo] - ft) / fp[todo]
        ok = np.isfinite(newton) & (newton > l) & (newton < h) & (it % 4 != 3)
        step = np.maximum(2.0 * np.abs(lt), scale[todo])
        fallback = np.where(
            np.isfinite(l) & np.isfinite(h), 0.5 * (l + h), np.where(below, lt + step, lt - step)
        )
        lam[todo] = np.where(ok, newton, fallback)
        todo = todo[~(converged | collapsed)]
    if todo.size:  # a bound, not a tolerance: unreachable in float64 (see _MAX_ITER)
        raise ValueError(
            f"post: the λ-search did not converge in {_MAX_ITER} steps at flat batch index "
            f"{int(todo[0])}"
        )
    # An iterate left on the flat side of a kink (slope 0, gᵀu < b) has no piece to step along:
    # restart from the bracket's upper end, where gᵀu ≥ b, on the piece that reaches b.
    redo = np.nonzero((fp <= 0) & (f < b) & np.isfinite(hi))[0]
    if redo.size:
        y = mu[redo] + hi[redo, None] * d[redo] * g[redo]
        u[redo], du[redo] = _project(y, d[redo], g[redo], kind)
        f[redo] = (g[redo] * u[redo]).sum(-1)
        fp[redo] = (g[redo] * du[redo]).sum(-1)
    # Final step along the active linear piece: gᵀu = b to round-off.
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(fp > 0, (b - f) / fp, 0.0)
    return u + t[:, None] * du


def _general(mu: Array, F: Array, G: Array, b: Array, kind: str, index: int) -> Array:
    """Exact QP for one slice: u = μ + F z, min ‖z‖ s.t. G u = b, A u ≥ 0 (null space + LDP)."""
    n = mu.shape[0]
    M = G @ F
    rhs = b - G @ mu
    U, s, Vh = np.linalg.svd(M)
    rank = int((s > max(M.shape) * _EPS * (s[0] if s.size else 0.0)).sum())
    z0 = Vh[:rank].T @ ((U[:, :rank].T @ rhs) / s[:rank])
    if np.linalg.norm(M @ z0 - rhs) > 1e-9 * (
        np.linalg.norm(rhs) + float((np.abs(G) @ np.abs(mu)).sum()) + 1e-300
    ):
        raise ValueError(f"post: G u = b has no solution in the prior's range (flat index {index})")
    u0 = mu + F @ z0
    N = Vh[rank:].T  # null space of GF, (n, k)
    A = np.eye(n)
    if kind == "monotone":
        A[:-1, 1:] -= np.eye(n - 1)  # rows e_i − e_{i+1}, last row e_{n−1}
    E = A @ F @ N
    h = -(A @ u0)
    k = N.shape[1]
    # Round-off in h = −A u0 is relative to the terms that make up A u0 (they may cancel).
    scale_h = np.abs(A) @ (np.abs(mu) + np.abs(F) @ np.abs(z0)) + 1e-300
    if k == 0:
        if bool((h > 1e-12 * scale_h).any()):
            raise ValueError(f"post: infeasible inequality projection at flat index {index}")
        return u0
    # Least-distance programme min ‖t‖ s.t. E t ≥ h, solved in units α of its solution, t = α τ:
    # the LDP residual that tells feasible from infeasible is −1/(1 + ‖τ‖²), so α ≈ ‖t*‖ keeps it
    # O(1) however far (in prior standard deviations) μ lies from the feasible set.
    en = np.linalg.norm(E, axis=1)
    viol = (h > 0) & (en > 0)
    alpha = float(np.max(h[viol] / en[viol])) if viol.any() else 1.0  # ≤ ‖t*‖
    # A candidate must meet E t ≥ h up to 1e-4 of ‖E_i‖‖t‖ + |h_i| (the size of the terms that
    # cancel in row i): a filter for the scales at which h is lost against α E (τ ≈ 0), not an
    # accuracy bound (that is eps·cond). While none is found, the units grow by 1e5 a step.
    t = None
    for _ in range(8):
        tau = _ldp(alpha * E, h)
        if tau is not None and bool(
            (alpha * (E @ tau) - h >= -1e-4 * (alpha * en * np.linalg.norm(tau) + np.abs(h))).all()
        ):
            t = alpha * tau
            size = float(np.linalg.norm(tau))
            if size == 0.0 or 0.25 <= size <= 4.0:
                break
            alpha *= size
        elif t is not None:
            break  # keep the solution found at the previous scale
        else:  # infeasible, or ‖t*‖ > 1e5 α: look further out
            alpha *= 1e5
    if t is None:
        raise ValueError(f"post: infeasible inequality projection at flat index {index}")
    return u0 + F @ (N @ _polish(E, h, en, t))


def _polish(E: Array, h: Array, en: Array, t: Array) -> Array:
    """The LDP optimum is the least-norm point of its active face, t* = E_a⁺ h_a: solved again on
    the rows that t meets to 1e-6 of their terms, it holds them to round-off even where E is ill
    conditioned (a narrow wedge); kept only if it is no less feasible than t."""
    scale = en * np.linalg.norm(t) + np.abs(h)
    act = E @ t - h <= 1e-6 * scale
    if not act.any():
        return t
    ta: Array = np.linalg.lstsq(E[act], h[act], rcond=None)[0].astype(np.float64)
    if (E @ ta - h).min(initial=0.0) >= (E @ t - h).min(initial=0.0):
        return ta
    return t


def _ldp(E: Array, h: Array) -> Array | None:
    """Lawson–Hanson least-distance programming: argmin ‖t‖ s.t. E t ≥ h (k,), via NNLS on
    [Eᵀ; hᵀ] v ≈ e_{k+1}; the residual r gives t = −r[:k]/r[k], and r[k] ≈ 0 means infeasible."""
    k = E.shape[1]
    cs = np.linalg.norm(np.concatenate([E, h[:, None]], axis=1), axis=1) + 1e-300
    Et = np.concatenate([(E / cs[:, None]).T, (h / cs)[None, :]], axis=0)
    e = np.zeros(k + 1)
    e[-1] = 1.0
    v, _ = nnls(Et, e, maxiter=50 * Et.shape[1])
    r = Et @ v - e
    if abs(r[-1]) < 1e-10:
        return None
    return -r[:-1] / r[-1]
