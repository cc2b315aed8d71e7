"""Exact references for the inequality projection's tests (imported by test_inequality*.py).

    u* = μ + F z*,  z* = argmin ‖z‖  s.t.  G(μ + F z) = b,  A(μ + F z) ≥ 0,

with A u ≥ 0 the cone C: u ≥ 0 ("nonneg") or u_i − u_{i+1} ≥ 0, u_{n−1} ≥ 0 ("monotone").
"""

from __future__ import annotations

import itertools

import numpy as np


def cone_rows(n, kind):
    """Inequalities A u ≥ 0: u ≥ 0, or u_i − u_{i+1} ≥ 0 and u_{n−1} ≥ 0."""
    A = np.eye(n)
    if kind == "monotone":
        A[:-1, 1:] -= np.eye(n - 1)
    return A


def face_enumeration(mu, F, G, b, kind):
    """Exact min ‖z‖ s.t. G(μ + F z) = b, A(μ + F z) ≥ 0 by enumerating active sets (n ≤ 12).

    The prior metric (u − μ)ᵀΣ⁻¹(u − μ) = ‖z‖² for u = μ + F z, F Fᵀ = Σ, also when Σ is singular
    (zero variances). Each face's minimiser is the minimum-norm solution of its equalities; the
    optimum is the best feasible one. Returns (u, ‖z‖²) or (None, inf) if infeasible.
    """
    n = mu.size
    A = cone_rows(n, kind)
    best, best_val = None, np.inf
    for k in range(n + 1):
        for active in itertools.combinations(range(n), k):
            S = list(active)
            C = np.vstack([G @ F, A[S] @ F])
            rhs = np.concatenate([b - G @ mu, -(A[S] @ mu)])
            z = np.linalg.lstsq(C, rhs, rcond=None)[0]
            if np.abs(C @ z - rhs).max() > 1e-10 * (1.0 + np.abs(rhs).max()):
                continue
            u = mu + F @ z
            if np.all(A @ u >= -1e-10 * (1.0 + np.abs(u).max())) and z @ z < best_val - 1e-13:
                best, best_val = u, float(z @ z)
    return best, best_val
