r"""2-D wave equation with homogeneous Neumann walls: exact cosine-series solutions and datasets.

    u_tt = c² Δu  on [0, 1]²,   ∂u/∂n = 0 on the four walls,

    u(x, y, t) = Σ_{j,k=0}^{K−1} cos(jπx) cos(kπy) [a_jk cos(ω_jk t) + b_jk sin(ω_jk t)/ω_jk],
    ω_jk = cπ sqrt(j² + k²),

with the (0, 0) mode excluded (a_00 = b_00 = 0: mean-free, no drift). Every term satisfies the PDE
and the Neumann condition exactly (∂_x cos(jπx) = −jπ sin(jπx) = 0 at x = 0, 1). The energy

    E = ½ ∫ (u_t² + c² |∇u|²) dx dy = ½ Σ_jk ν_j ν_k (ω_jk² a_jk² + b_jk²),  ν_0 = 1, ν_j = ½,

is conserved exactly.

Coefficient law (pcml's choice; the paper's wave speed, modes and amplitudes are not available,
boon.md §13.6): a_jk = ξ_jk (1 + j² + k²)^{−γ/2}, ξ_jk ~ N(0, 1) i.i.d., γ = ``decay`` (default 2),
K = ``n_modes`` (default 8); ``released_from_rest=True`` (default) sets b = 0, so u(·, 0) alone
determines the trajectory (a well-posed operator-learning input). Otherwise b_jk = ω_jk·η_jk
(1 + j² + k²)^{−γ/2} with η ~ N(0, 1) and the dataset also stores u_t.

Shapes: ``a, b: (B, K, K)``; ``c: (B,)``; ``x: (n_x,)``, ``y: (n_y,)``, ``t: (T,)``; fields
``(B, T, n_x, n_y)`` indexed ``[b, t, i(x), j(y)]``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from pcml.data import BoundaryData, PDEData

__all__ = [
    "build_wave2d_dataset",
    "wave2d_energy",
    "wave2d_frequencies",
    "wave2d_solution",
]

Array = NDArray[np.float64]
GENERATOR_VERSION = "1"


def _check_coeffs(a: Array, b: Array, c: Array) -> None:
    if a.ndim != 3 or a.shape[1] != a.shape[2] or b.shape != a.shape:
        raise ValueError(f"a and b must have the same shape (B, K, K), got {a.shape}, {b.shape}")
    if c.shape != (a.shape[0],) or not np.all(c > 0):
        raise ValueError(f"c must be positive with shape ({a.shape[0]},), got {c}")
    if a[:, 0, 0].any() or b[:, 0, 0].any():
        raise ValueError("the (0, 0) mode must be zero (a[:, 0, 0] = b[:, 0, 0] = 0)")


def wave2d_frequencies(c: ArrayLike, n_modes: int) -> Array:
    """ω_jk = cπ sqrt(j² + k²): ``c: (B,)`` -> ``(B, K, K)`` (ω_00 = 0)."""
    j = np.arange(n_modes)
    rad = np.pi * np.sqrt(j[:, None] ** 2 + j[None, :] ** 2)
    return np.asarray(c, dtype=np.float64)[:, None, None] * rad[None]


def wave2d_solution(
    a: Array, b: Array, c: ArrayLike, x: ArrayLike, y: ArrayLike, t: ArrayLike, derivative: int = 0
) -> Array:
    """∂ᵈu/∂tᵈ (d = ``derivative`` ∈ {0, 1, 2}) of the cosine series: ``(B, T, n_x, n_y)``."""
    c = np.asarray(c, dtype=np.float64)
    _check_coeffs(a, b, c)
    if derivative not in (0, 1, 2):
        raise ValueError(f"derivative must be 0, 1 or 2, got {derivative}")
    k_modes = a.shape[1]
    omega = wave2d_frequencies(c, k_modes)
    safe = np.where(omega > 0, omega, 1.0)
    wt = omega[:, None] * np.asarray(t, dtype=np.float64)[None, :, None, None]  # (B, T, K, K)
    cos, sin = np.cos(wt), np.sin(wt)
    a_, b_, w_ = a[:, None], (b / safe)[:, None], omega[:, None]
    if derivative == 0:
        q = a_ * cos + b_ * sin
    elif derivative == 1:
        q = w_ * (-a_ * sin + b_ * cos)
    else:
        q = -(w_**2) * (a_ * cos + b_ * sin)
    j = np.arange(k_modes)
    cx = np.cos(np.pi * j[:, None] * np.asarray(x, dtype=np.float64)[None, :])
    cy = np.cos(np.pi * j[:, None] * np.asarray(y, dtype=np.float64)[None, :])
    return np.einsum("btjk,jx,ky->btxy", q, cx, cy, optimize=True)


def wave2d_energy(a: Array, b: Array, c: ArrayLike) -> Array:
    """E = ½ Σ_jk ν_j ν_k (ω_jk² a_jk² + b_jk²): ``(B,)`` (constant in time)."""
    c = np.asarray(c, dtype=np.float64)
    _check_coeffs(a, b, c)
    k_modes = a.shape[1]
    nu = np.full(k_modes, 0.5)
    nu[0] = 1.0
    weight = nu[:, None] * nu[None, :]
    omega = wave2d_frequencies(c, k_modes)
    return 0.5 * np.sum(weight * (omega**2 * a**2 + b**2), axis=(-2, -1))


def build_wave2d_dataset(
    n_traj: int,
    n: int,
    n_frames: int = 25,
    seed: int = 0,
    *,
    c_range: tuple[float, float] = (1.0, 1.0),
    n_modes: int = 8,
    decay: float = 2.0,
    t_final: float = 1.0,
    released_from_rest: bool = True,
) -> PDEData:
    """Exact Neumann wave trajectories on the (n+1)² grid x_i = i/n (walls included).

    ``fields["u"]: (n_traj, 1 + n_frames, n+1, n+1)`` float32 (computed in float64), plus
    ``"u_t"`` when not released from rest; step 0 is the input u(·, 0), steps 1..n_frames are
    t_k = k·t_final/n_frames. Params ``"c"`` and ``"energy"`` ``(n_traj,)``. Boundary: Neumann
    ∂u/∂n = 0 on the four faces, values ``(1, 1, n+1)`` zeros (exact data, no stencil).
    """
    for name, val, lo in (("n_traj", n_traj, 1), ("n", n, 2), ("n_frames", n_frames, 1)):
        if isinstance(val, bool) or not isinstance(val, int) or val < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {val!r}")
    if isinstance(n_modes, bool) or not isinstance(n_modes, int) or n_modes < 2:
        raise ValueError(f"n_modes must be an int >= 2, got {n_modes!r}")
    if not (0 < c_range[0] <= c_range[1] < np.inf):
        raise ValueError(f"c_range must satisfy 0 < low <= high < inf, got {c_range}")
    if not (t_final > 0 and np.isfinite(decay)):
        raise ValueError(f"t_final must be > 0 and decay finite, got {t_final}, {decay}")
    rng = np.random.default_rng(seed)
    j = np.arange(n_modes)
    envelope = (1.0 + j[:, None] ** 2 + j[None, :] ** 2) ** (-decay / 2)
    envelope[0, 0] = 0.0
    c = rng.uniform(*c_range, size=n_traj)
    a = rng.standard_normal((n_traj, n_modes, n_modes)) * envelope
    b = np.zeros_like(a)
    if not released_from_rest:
        b = wave2d_frequencies(c, n_modes) * rng.standard_normal(a.shape) * envelope
    x = np.linspace(0.0, 1.0, n + 1)
    t = t_final * np.arange(n_frames + 1) / n_frames
    fields = {"u": wave2d_solution(a, b, c, x, x, t).astype(np.float32)}
    if not released_from_rest:
        fields["u_t"] = wave2d_solution(a, b, c, x, x, t, derivative=1).astype(np.float32)
    zeros = np.zeros((1, 1, n + 1), dtype=np.float32)
    boundary = tuple(
        BoundaryData(axis, side, "neumann", zeros.copy())
        for axis in ("x", "y")
        for side in ("lower", "upper")
    )
    return PDEData(
        name="boon-wave2d",
        fields=fields,
        time=t,
        coords={"x": x, "y": x.copy()},
        params={"c": c, "energy": wave2d_energy(a, b, c)},
        constants={
            "n_modes": n_modes,
            "decay": float(decay),
            "t_final": float(t_final),
            "c_low": float(c_range[0]),
            "c_high": float(c_range[1]),
            "released_from_rest": int(released_from_rest),
        },
        boundary=boundary,
        generator="pcml.pdes.wave2d.build_wave2d_dataset",
        generator_version=GENERATOR_VERSION,
        seed=seed,
    )
