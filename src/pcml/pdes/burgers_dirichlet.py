r"""Viscous Burgers on [0, 1] with homogeneous Dirichlet ends: Cole–Hopf (exact) and the MOL.

    u_t + u u_x = ν u_xx,   u(0, t) = u(1, t) = 0,   u(x, 0) = u₀(x) = Σ_{n=1}^{K} b_n sin(nπx).

Cole–Hopf.  u = −2ν θ_x/θ with θ_t = ν θ_xx, θ_x(0) = θ_x(1) = 0 and
θ₀ = exp(−(Φ − Φ_min)/(2ν)),  Φ(x) = ∫₀ˣ u₀ = Σ b_n (1 − cos(nπx))/(nπ).
The constant shift Φ_min (the max-shift of the exponent) leaves u unchanged and keeps θ₀ ∈ (0, 1],
so nothing overflows.  Φ is a cosine series, so θ₀ is a smooth even 2-periodic function and its
cosine coefficients c_m come from the trapezoid rule (a DCT-I on M + 1 nodes) with spectral
accuracy.  Then θ = Σ c_m e^{−νm²π²t} cos(mπx) and

    u(x, t) = 2ν Σ_m c_m mπ e^{−νm²π²t} sin(mπx) / Σ_m c_m e^{−νm²π²t} cos(mπx).

Only homogeneous ends are handled by Cole–Hopf (non-zero constant ends make θ satisfy Robin
conditions); for those use ``burgers_dirichlet_mol``.  For ν ≲ 0.01 θ₀ spans e^{±100} and loses
accuracy in relative terms; prefer the method of lines there (boon.md §13.3).

Initial law.  The original law is not available.  pcml draws b_n from the Dirichlet-basis Gaussian
field 625(−Δ + 25I)^(−2) (``grf.sine_series_coefficients``): b_n ~ N(0, 2λ_n),
λ_n = 625/((nπ)² + 25)², K = 64 modes, giving |u₀| = O(1) (pointwise std ≈ 0.9).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import scipy.sparse
from numpy.typing import NDArray
from scipy.integrate import solve_ivp

from pcml.pdes.grf import GRFSpectrum, sine_series_coefficients

FloatArray = NDArray[np.float64]

__all__ = [
    "BurgersDirichletProblem",
    "burgers_dirichlet_cole_hopf",
    "burgers_dirichlet_ends",
    "burgers_dirichlet_mol",
    "sine_series",
]


@dataclass(frozen=True)
class BurgersDirichletProblem:
    """Viscosity, initial-condition law and Cole–Hopf quadrature size.

    Attributes:
        viscosity: ν.
        n_ic_modes: K, the number of sine modes of u₀.
        spectrum: law of the sine coefficients (``sine_series_coefficients``).
        n_quadrature: M, trapezoid intervals for the cosine coefficients of θ₀.
        end_min, end_max: the end values u(0) = a and u(1) = b, each drawn from U[end_min,
            end_max] per trajectory (after the sine coefficients); both 0 (default): the
            homogeneous problem, solved exactly by Cole–Hopf; otherwise
            :func:`burgers_dirichlet_ends` (method of lines) with u₀ = a + (b − a)x + Σ b_n
            sin(nπx).
        mol_nodes: the method of lines runs on the finest grid m(n_x − 1) + 1 with at least
            ``mol_nodes`` nodes and is subsampled to the n_x output nodes, so data at 2× and 4×
            resolution come from (almost) the same solver grid.
    """

    viscosity: float = 0.1
    n_ic_modes: int = 64
    spectrum: GRFSpectrum = field(default_factory=GRFSpectrum)
    n_quadrature: int = 2048
    end_min: float = 0.0
    end_max: float = 0.0
    mol_nodes: int = 1025

    def __post_init__(self) -> None:
        if not self.end_min <= self.end_max:
            raise ValueError(f"need end_min <= end_max, got {self.end_min}, {self.end_max}")
        if self.mol_nodes < 3:
            raise ValueError(f"mol_nodes must be >= 3, got {self.mol_nodes}")
        if not self.viscosity > 0:
            raise ValueError(f"viscosity must be > 0, got {self.viscosity}")
        if self.n_ic_modes < 1:
            raise ValueError(f"n_ic_modes must be >= 1, got {self.n_ic_modes}")
        if self.n_quadrature < 4 * self.n_ic_modes:
            raise ValueError(
                f"n_quadrature must be >= 4*n_ic_modes = {4 * self.n_ic_modes}, "
                f"got {self.n_quadrature}"
            )

    def sample_coefficients(self, n_traj: int, rng: np.random.Generator) -> FloatArray:
        """Sine coefficients b_n of u₀, ``(n_traj, n_ic_modes)``."""
        return sine_series_coefficients(self.spectrum, n_traj, self.n_ic_modes, rng)

    @property
    def varies_ends(self) -> bool:
        return not (self.end_min == 0.0 and self.end_max == 0.0)

    def sample_ends(self, n_traj: int, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """(a, b) = (u(0), u(1)), each ``(n_traj,)`` from U[end_min, end_max]."""
        a = rng.uniform(self.end_min, self.end_max, size=n_traj)
        b = rng.uniform(self.end_min, self.end_max, size=n_traj)
        return a, b


def burgers_dirichlet_ends(
    coeffs: FloatArray,
    lower: FloatArray,
    upper: FloatArray,
    x: FloatArray,
    t: FloatArray,
    problem: BurgersDirichletProblem,
) -> FloatArray:
    """u(x, t) with u(0, t) = a, u(1, t) = b per trajectory and u₀ = a + (b − a)x + Σ b_n sin(nπx).

    ``coeffs: (n_traj, K)``, ``lower``, ``upper``: (n_traj,), ``x: (n_x,)`` = linspace(0, 1, n_x),
    ``t: (n_t,)`` from 0. Solved by :func:`burgers_dirichlet_mol` (rtol 1e-8) on the grid
    m(n_x − 1) + 1, m the smallest integer with at least ``problem.mol_nodes`` nodes, and
    subsampled (every m-th node). Returns ``(n_traj, n_t, n_x)``; the end columns are a and b
    exactly.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size - 1
    if x.ndim != 1 or n < 2 or not np.allclose(x, np.linspace(0.0, 1.0, n + 1), atol=1e-14):
        raise ValueError(f"x must be linspace(0, 1, n_x) with n_x >= 3, got shape {x.shape}")
    m = max(1, -(-(problem.mol_nodes - 1) // n))
    xs = np.linspace(0.0, 1.0, m * n + 1)
    a, b = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    u0 = a[:, None] + (b - a)[:, None] * xs + sine_series(coeffs, xs)
    u0[:, 0], u0[:, -1] = a, b
    u = burgers_dirichlet_mol(u0, t, problem.viscosity, a, b, rtol=1e-8, atol=1e-10)
    return np.asarray(u[..., ::m])


def sine_series(coeffs: FloatArray, x: FloatArray) -> FloatArray:
    """u₀(x) = Σ_{n=1}^{K} b_n sin(nπx); ``coeffs: (n_traj, K)``, ``x: (n_x,)`` → (n_traj, n_x)."""
    n = np.arange(1, coeffs.shape[-1] + 1, dtype=np.float64)
    return np.asarray(coeffs @ np.sin(np.pi * np.multiply.outer(n, x)))


def _theta_coefficients(coeffs: FloatArray, nu: float, n_quadrature: int) -> FloatArray:
    """Cosine coefficients c_m (m = 0 … M) of θ₀, ``(n_traj, M + 1)``, by a DCT-I."""
    xq = np.linspace(0.0, 1.0, n_quadrature + 1)
    n = np.arange(1, coeffs.shape[-1] + 1, dtype=np.float64)
    phi = coeffs @ ((1.0 - np.cos(np.pi * np.multiply.outer(n, xq))) / (n * np.pi)[:, None])
    exponent = -(phi - phi.min(axis=-1, keepdims=True)) / (2.0 * nu)  # <= 0: no overflow
    c = scipy.fft.dct(np.exp(exponent), type=1, axis=-1) / n_quadrature
    c[:, 0] *= 0.5
    return np.asarray(c)


def burgers_dirichlet_cole_hopf(
    coeffs: FloatArray, x: FloatArray, t: FloatArray, problem: BurgersDirichletProblem
) -> FloatArray:
    """Exact u(x, t) by Cole–Hopf; ``coeffs: (n_traj, K)``, ``x: (n_x,)`` in [0, 1], ``t: (n_t,)``.

    Returns ``(n_traj, n_t, n_x)``; rows with t = 0 are the exact sine series u₀.  Modes m whose
    weight max_traj |c_m|·mπ·e^{−νm²π²t_min} (t_min the smallest positive time) is below 1e−18
    times max|c_0| are dropped (exactly negligible in float64).
    """
    coeffs = np.asarray(coeffs, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if coeffs.ndim != 2:
        raise ValueError(f"coeffs must have shape (n_traj, K), got {coeffs.shape}")
    if x.ndim != 1 or np.any((x < 0) | (x > 1)):
        raise ValueError(f"x must have shape (n_x,) with values in [0, 1], got {x.shape}")
    if t.ndim != 1 or np.any(t < 0):
        raise ValueError(f"t must have shape (n_t,) with t >= 0, got {t.shape}")
    nu = problem.viscosity
    u = np.empty((coeffs.shape[0], t.size, x.size))
    positive = t > 0
    if np.any(positive):
        c = _theta_coefficients(coeffs, nu, problem.n_quadrature)
        m = np.arange(c.shape[-1], dtype=np.float64)
        rate = nu * (m * np.pi) ** 2
        weight = np.abs(c).max(axis=0) * np.maximum(m, 1.0) * np.pi
        weight *= np.exp(-rate * t[positive].min())
        keep = weight > 1e-18 * np.abs(c[:, 0]).max()
        keep[0] = True
        n_keep = int(np.nonzero(keep)[0].max()) + 1
        c, m, rate = c[:, :n_keep], m[:n_keep], rate[:n_keep]
        damped = c[:, None, :] * np.exp(-np.multiply.outer(t[positive], rate))[None]
        theta = damped @ np.cos(np.pi * np.multiply.outer(m, x))
        theta_x_neg = (damped * (m * np.pi)) @ np.sin(np.pi * np.multiply.outer(m, x))
        u[:, positive, :] = 2.0 * nu * theta_x_neg / theta
    if np.any(~positive):
        u[:, ~positive, :] = sine_series(coeffs, x)[:, None, :]
    return u


def burgers_dirichlet_mol(
    u0: FloatArray,
    t: FloatArray,
    viscosity: float,
    lower: float | FloatArray = 0.0,
    upper: float | FloatArray = 0.0,
    rtol: float = 1e-10,
    atol: float = 1e-12,
) -> FloatArray:
    """Method of lines, second order in space, on the uniform grid of ``u0: (n_traj, n_x)``.

    Interior nodes follow du_i/dt = −(u_{i+1}² − u_{i−1}²)/(4h) + ν(u_{i+1} − 2u_i + u_{i−1})/h²
    with u_0 = ``lower`` and u_{n_x−1} = ``upper`` held fixed (scalars, or ``(n_traj,)`` per
    trajectory); all trajectories are integrated as
    one stiff system by BDF (scipy ``solve_ivp``) with the exact sparse Jacobian.  ``t: (n_t,)``
    increasing from 0.  Returns ``(n_traj, n_t, n_x)``.
    """
    u0 = np.asarray(u0, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if u0.ndim != 2 or u0.shape[1] < 3:
        raise ValueError(f"u0 must have shape (n_traj, n_x >= 3), got {u0.shape}")
    if t.ndim != 1 or t[0] != 0 or np.any(np.diff(t) <= 0):
        raise ValueError("t must be 1-D, start at 0 and increase strictly")
    n_traj, n_x = u0.shape
    h, nu = 1.0 / (n_x - 1), viscosity
    m = n_x - 2

    lo = np.broadcast_to(np.asarray(lower, dtype=np.float64), (n_traj,))[:, None]
    up = np.broadcast_to(np.asarray(upper, dtype=np.float64), (n_traj,))[:, None]

    def pad(y: FloatArray) -> FloatArray:
        v = y.reshape(n_traj, m)
        return np.concatenate([lo, v, up], axis=1)

    def rhs(_: float, y: FloatArray) -> FloatArray:
        v = pad(y)
        flux = -(v[:, 2:] ** 2 - v[:, :-2] ** 2) / (4.0 * h)
        diff = nu * (v[:, 2:] - 2.0 * v[:, 1:-1] + v[:, :-2]) / h**2
        return np.asarray((flux + diff).ravel())

    def jac(_: float, y: FloatArray) -> scipy.sparse.csc_matrix:
        v = pad(y)
        upper_d = (-v[:, 2:] / (2.0 * h) + nu / h**2)[:, :-1]  # ∂f_i/∂u_{i+1}, i < m−1
        lower_d = (v[:, :-2] / (2.0 * h) + nu / h**2)[:, 1:]  # ∂f_i/∂u_{i−1}, i > 0
        gap = np.zeros((n_traj, 1))  # no coupling across trajectories
        up = np.concatenate([upper_d, gap], axis=1).ravel()[:-1]
        lo = np.concatenate([lower_d, gap], axis=1).ravel()[:-1]
        main = np.full(n_traj * m, -2.0 * nu / h**2)
        return scipy.sparse.diags([lo, main, up], [-1, 0, 1], format="csc")

    sol = solve_ivp(
        rhs, (0.0, float(t[-1])), u0[:, 1:-1].ravel(), method="BDF", t_eval=t,
        jac=jac, rtol=rtol, atol=atol,
    )  # fmt: skip
    if not sol.success:
        raise RuntimeError(f"method-of-lines integration failed: {sol.message}")
    out = np.empty((n_traj, t.size, n_x))
    out[:, :, 1:-1] = sol.y.reshape(n_traj, m, t.size).transpose(0, 2, 1)
    out[:, :, 0], out[:, :, -1] = lo, up
    return out
