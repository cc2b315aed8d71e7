r"""Stokes' second problem (oscillating plate) on [0, 1], closed form with Dirichlet data.

    u_t = ν u_xx,   u(x, t) = U e^{−κx} cos(κx − ωt),   κ = √(ω/(2ν)),

(ν u_xx = −2iνκ²·u = −iω·u in complex form, so the closed form solves the PDE exactly.)  On [0, 1]
it is the solution with the time-varying Dirichlet data u(0, t) = U cos(ωt) and
u(1, t) = U e^{−κ} cos(κ − ωt), and the initial condition u(x, 0) = U e^{−κx} cos(κx); there is
no transient (boon.md §13.2).

Sampling laws.  The original paper's laws of ω, U and ν are not available.  pcml's defaults
(documented choices, recorded in every dataset): ω ~ U[2, 8], U = 1 (fixed), ν = 0.1 (fixed, the
original file tag ``nu_0_point_1``).  Each of the three is drawn uniformly from [min, max]; equal
bounds make it a constant.  With these defaults κ ∈ [3.2, 6.3].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

__all__ = ["StokesParameters", "StokesProblem", "stokes_boundary_values", "stokes_solution"]


@dataclass(frozen=True)
class StokesParameters:
    """Per-trajectory parameters, each ``(n_traj,)``: ω (frequency), U (amplitude), ν."""

    omega: FloatArray
    amplitude: FloatArray
    viscosity: FloatArray

    def __post_init__(self) -> None:
        shapes = {a.shape for a in (self.omega, self.amplitude, self.viscosity)}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise ValueError(
                f"omega, amplitude, viscosity must share a shape (n_traj,), got {shapes}"
            )
        if np.any(self.omega <= 0) or np.any(self.viscosity <= 0):
            raise ValueError("omega and viscosity must be > 0")

    @property
    def kappa(self) -> FloatArray:
        """κ = √(ω/(2ν)), ``(n_traj,)``."""
        return np.asarray(np.sqrt(self.omega / (2.0 * self.viscosity)))


@dataclass(frozen=True)
class StokesProblem:
    """Sampling law: ω ~ U[omega_min, omega_max], U ~ U[amplitude_min, amplitude_max], ν alike."""

    omega_min: float = 2.0
    omega_max: float = 8.0
    amplitude_min: float = 1.0
    amplitude_max: float = 1.0
    viscosity_min: float = 0.1
    viscosity_max: float = 0.1

    def __post_init__(self) -> None:
        for name in ("omega", "amplitude", "viscosity"):
            lo, hi = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if not 0 < lo <= hi:
                raise ValueError(f"need 0 < {name}_min <= {name}_max, got {lo}, {hi}")

    def sample(self, n_traj: int, rng: np.random.Generator) -> StokesParameters:
        """Draw ω, U, ν (in that order, each ``(n_traj,)``) from the uniform laws."""
        omega = rng.uniform(self.omega_min, self.omega_max, size=n_traj)
        amplitude = rng.uniform(self.amplitude_min, self.amplitude_max, size=n_traj)
        viscosity = rng.uniform(self.viscosity_min, self.viscosity_max, size=n_traj)
        return StokesParameters(omega, amplitude, viscosity)


def stokes_solution(params: StokesParameters, x: FloatArray, t: FloatArray) -> FloatArray:
    """u(x, t) = U e^{−κx} cos(κx − ωt); ``x: (n_x,)``, ``t: (n_t,)`` → ``(n_traj, n_t, n_x)``."""
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    if x.ndim != 1 or t.ndim != 1:
        raise ValueError(f"x and t must be 1-D, got shapes {x.shape}, {t.shape}")
    kappa = params.kappa[:, None, None]
    omega = params.omega[:, None, None]
    amp = params.amplitude[:, None, None]
    return np.asarray(amp * np.exp(-kappa * x) * np.cos(kappa * x - omega * t[:, None]))


def stokes_boundary_values(
    params: StokesParameters, t: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Dirichlet data (u(0, t), u(1, t)) = (U cos(ωt), U e^{−κ} cos(κ − ωt)).

    ``t: (n_t,)``; returns two ``(n_traj, n_t)`` arrays.
    """
    t = np.asarray(t, dtype=np.float64)
    kappa, omega, amp = params.kappa[:, None], params.omega[:, None], params.amplitude[:, None]
    lower = amp * np.cos(omega * t)
    upper = amp * np.exp(-kappa) * np.cos(kappa - omega * t)
    return np.asarray(lower), np.asarray(upper)
