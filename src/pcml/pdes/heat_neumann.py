r"""Heat equation with an insulator and a heater: exact lift + cosine series, exact in time.

    u_t = k u_xx on [0, 1],   u_x(0, t) = 0,   u_x(1, t) = U sin(πt),   u(x, 0) = cos(ωπx)

(BOON's Figure-1 problem; k = 0.01, U = 5, ω ~ U[2.01, 3.99]; boon.md §11.2, §13.1).

Method (an exact lift, better than a polynomial one).  The time-periodic solution of the PDE and
both boundary conditions is

    u_p(x, t) = Re[P(x) e^{iπt}],   P(x) = −iU cosh(μx)/(μ sinh μ),   μ = √(iπ/k)

(k u_p,xx = kμ² u_p = iπ u_p = u_p,t; P'(0) = 0; Re[P'(1)e^{iπt}] = Re[−iU e^{iπt}] = U sin(πt)).
The remainder v = u − u_p solves the heat equation with homogeneous Neumann ends, so

    v(x, t) = Σ_n d_n e^{−λ_n t} cos(nπx),   λ_n = k(nπ)²,   d_n = c_n(cos ωπx) − c_n(u_p(·, 0)),

with the cosine coefficients (c_0 = ∫g, c_n = 2∫g cos(nπx)) in closed form:
c_n(cos ωπx) = sin(ωπ)/(ωπ), (−1)ⁿ sin(ωπ)·2ω/(π(ω² − n²)) (ω not an integer), and
c_n(u_p(·, 0)) = ε_n(−1)ⁿ Re[−iU/(iπ/k + (nπ)²)], ε_0 = 1, ε_n = 2.
Every term is exact in time.  The series converges like e^{−k(nπ)²t}, so for t > 0 the truncation
is negligible once k(nπ)²t ≳ 46 (modes beyond that are dropped automatically); n_modes = 1024
covers t ≥ 5e−4.  The IC violates the flux at t = 0 (u₀'(1) = −ωπ sin ωπ), so rows with t = 0
are the exact u₀, not the series.

Compared with the lift φ = U sin(πt)x²/2 of boon.md §13.1 (same solution: the tests compare both
to 1e−10), this lift leaves no algebraically decaying (n⁻⁴) tail: with φ, 1024 modes left
~1e−8 in the values and ~1e−5 in one-sided derivatives at x = 1 for t ≈ 0.1 (the tail divided
by h), which a boundary-flux check of the data would see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]

__all__ = ["HeatNeumannProblem", "heat_neumann_flux", "heat_neumann_solution"]


@dataclass(frozen=True)
class HeatNeumannProblem:
    """Parameters of the heat/Neumann problem and its sampling law.

    Attributes:
        diffusivity: k.
        heater_amplitude: U, the flux amplitude at x = 1 (every trajectory, unless a range is
            given).
        omega_min, omega_max: ω ~ U[omega_min, omega_max] per trajectory (must avoid integers).
        n_modes: number of cosine modes n = 0 … n_modes−1.
        heater_amplitude_min, heater_amplitude_max: if both given, U ~ U[min, max] per
            trajectory instead (drawn after ω; the boundary data of the BOON studies:
            ``pcml.experiments.boon.cases``). u is affine in U, so
            u(U) = u(0) + U (u(1) − u(0)) is exact.
    """

    diffusivity: float = 0.01
    heater_amplitude: float = 5.0
    omega_min: float = 2.01
    omega_max: float = 3.99
    n_modes: int = 1024
    heater_amplitude_min: float | None = None
    heater_amplitude_max: float | None = None

    def __post_init__(self) -> None:
        lo, hi = self.heater_amplitude_min, self.heater_amplitude_max
        if (lo is None) != (hi is None) or (lo is not None and hi is not None and not lo <= hi):
            raise ValueError(
                "heater_amplitude_min and heater_amplitude_max must be given together with "
                f"min <= max, got {lo}, {hi}"
            )
        if not self.diffusivity > 0:
            raise ValueError(f"diffusivity must be > 0, got {self.diffusivity}")
        if not self.omega_min <= self.omega_max:
            raise ValueError(f"need omega_min <= omega_max, got {self.omega_min}, {self.omega_max}")
        if self.n_modes < 2:
            raise ValueError(f"n_modes must be >= 2, got {self.n_modes}")

    def sample_omega(self, n_traj: int, rng: np.random.Generator) -> FloatArray:
        """ω ~ U[omega_min, omega_max], ``(n_traj,)``."""
        return rng.uniform(self.omega_min, self.omega_max, size=n_traj)

    @property
    def varies_amplitude(self) -> bool:
        return self.heater_amplitude_min is not None

    def sample_amplitude(self, n_traj: int, rng: np.random.Generator) -> FloatArray:
        """U per trajectory, ``(n_traj,)``: U[heater_amplitude_min, heater_amplitude_max], or
        the fixed ``heater_amplitude`` (no draw) without a range."""
        if self.heater_amplitude_min is None or self.heater_amplitude_max is None:
            return np.full(n_traj, self.heater_amplitude)
        return rng.uniform(self.heater_amplitude_min, self.heater_amplitude_max, size=n_traj)


def heat_neumann_flux(t: FloatArray, problem: HeatNeumannProblem) -> tuple[FloatArray, FloatArray]:
    """Prescribed fluxes (u_x(0, t), u_x(1, t)) = (0, U sin(πt)), each ``(n_t,)``."""
    t = np.asarray(t, dtype=np.float64)
    return np.zeros_like(t), problem.heater_amplitude * np.sin(np.pi * t)


def _initial_coefficients(omega: FloatArray, n: FloatArray) -> FloatArray:
    """Cosine coefficients of cos(ωπx): ``omega: (n_traj,)``, ``n: (n_modes,)`` → ``(n_traj,
    n_modes)``."""
    w = omega[:, None]
    sign = np.where(n % 2 == 0, 1.0, -1.0)
    sin_wp = np.sin(np.pi * w)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = sign * sin_wp * 2.0 * w / (np.pi * (w**2 - n**2))
    c[:, 0] = sin_wp[:, 0] / (np.pi * w[:, 0])
    return np.asarray(c)


def _periodic_profile(x: FloatArray, problem: HeatNeumannProblem) -> ComplexArray:
    """P(x) = −iU cosh(μx)/(μ sinh μ), μ = √(iπ/k), overflow-free; ``x: (n_x,)`` → (n_x,)."""
    mu = np.sqrt(1j * np.pi / problem.diffusivity)
    ratio = (np.exp(mu * (x - 1.0)) + np.exp(-mu * (x + 1.0))) / (1.0 - np.exp(-2.0 * mu))
    return np.asarray(-1j * problem.heater_amplitude * ratio / mu)


def heat_neumann_solution(
    omega: FloatArray, x: FloatArray, t: FloatArray, problem: HeatNeumannProblem
) -> FloatArray:
    """u(x, t) for each ω; ``omega: (n_traj,)``, ``x: (n_x,)`` in [0, 1], ``t: (n_t,)`` ≥ 0.

    Returns ``(n_traj, n_t, n_x)`` float64.  Rows with t = 0 are the exact u₀ = cos(ωπx).
    """
    omega = np.asarray(omega, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if omega.ndim != 1:
        raise ValueError(f"omega must have shape (n_traj,), got {omega.shape}")
    if np.any(np.abs(omega - np.round(omega)) < 1e-9):
        raise ValueError("omega must not be an integer (the cosine coefficients are singular)")
    if x.ndim != 1 or np.any((x < 0) | (x > 1)):
        raise ValueError(f"x must have shape (n_x,) with values in [0, 1], got {x.shape}")
    if t.ndim != 1 or np.any(t < 0):
        raise ValueError(f"t must have shape (n_t,) with t >= 0, got {t.shape}")

    k, big_u = problem.diffusivity, problem.heater_amplitude
    n = np.arange(problem.n_modes, dtype=np.float64)
    lam = k * (n * np.pi) ** 2  # (n_modes,)
    eps_sign = np.where(n == 0, 1.0, 2.0) * np.where(n % 2 == 0, 1.0, -1.0)
    c_profile = (eps_sign * (-1j * big_u / (1j * np.pi / k + (n * np.pi) ** 2))).real
    d = _initial_coefficients(omega, n) - c_profile  # (n_traj, n_modes)
    positive = t[t > 0]
    if positive.size:  # drop modes with e^{−λ_n t_min} < 1e−20: exactly negligible in float64
        n_keep = max(int(np.count_nonzero(lam * positive.min() < 46.0)), 1)
        n, lam, d = n[:n_keep], lam[:n_keep], d[:, :n_keep]
    decay = np.exp(-np.multiply.outer(t, lam))  # (n_t, n_modes)
    basis = np.cos(np.pi * np.multiply.outer(n, x))  # (n_modes, n_x)
    transient = (d[:, None, :] * decay[None]) @ basis  # (n_traj, n_t, n_x)
    periodic = (np.multiply.outer(np.exp(1j * np.pi * t), _periodic_profile(x, problem))).real
    u = transient + periodic[None]
    at_zero = t == 0
    if np.any(at_zero):
        u[:, at_zero, :] = np.cos(np.pi * np.multiply.outer(omega, x))[:, None, :]
    return np.asarray(u)
