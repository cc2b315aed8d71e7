r"""Lid-driven cavity: 2-D incompressible Navier–Stokes in vorticity–streamfunction form.

On the unit square Ω = [0, 1]² with kinematic viscosity ν and a lid at y = 1 moving with
tangential speed U·g(x) (g ≡ 1 for the classical cavity, g = 16x²(1−x)² for the regularised lid)
and no-slip on the three other walls,

    ω_t + u ω_x + v ω_y = ν Δω,      −Δψ = ω,      u = ψ_y,  v = −ψ_x,      ψ = 0 on ∂Ω,

so the Reynolds number is Re = U·L/ν with L = 1. Discretisation (all of it vectorised over a batch
of B independent cavities, arrays indexed ``[b, i, j]`` with x_i = i h, y_j = j h, h = 1/n):

* the Poisson problem −Δ_h ψ = ω on the (n−1)² interior nodes is solved exactly (to round-off) by
  a DST-I in both directions with the exact 5-point eigenvalues (4/h²)(sin²(kπ/2n) + sin²(lπ/2n));
* interior velocity by centred differences of ψ; on the walls the velocity is the prescribed
  Dirichlet data (lid speed on the closed top edge, corners included; zero elsewhere). With this
  choice the centred discrete divergence D_x u + D_y v vanishes to round-off at every interior
  node (the centred operators commute and ψ = 0 on the walls);
* the wall vorticity comes from a one-sided formula (``WallFormula``, numerics as data):
  ω_w = c_ψ ψ_1/h² + c_ω ω_1 + c_U U_w/h (+ a lid-curvature term) with ψ_1, ω_1 at the first
  interior node and U_w the wall's tangential velocity signed as in the Taylor expansion. The
  default is **Thom's formula** (c = (−2, 0, −2)): locally first order but globally second-order
  convergent for the interior vorticity (Huang & Wetton 1996) and robust with explicit time
  stepping. Woods' second-order formula (c = (−3, −1/2, −3)) is available for comparison (at
  Re = 100 both agree with Ghia et al. to ~4e−3 at n = 48). Corner vorticity does not enter the
  interior stencils; it is stored as the mean of the two adjacent wall values;
* centred second-order advection u ω_x + v ω_y and the 5-point Laplacian;
* classical RK4 in time. Stability check (frozen-coefficient von Neumann): the semi-discrete
  eigenvalues times dt lie in the left half-disk of radius
  ρ = sqrt((8ν dt/h²)² + (dt(max|u| + max|v|)/h)²), and the RK4 stability region contains the
  left half-disk of radius 2.6 (2.6156 is the largest; ``RK4_HALF_DISK_RADIUS``). A ``ValueError``
  is raised before the run if ρ > 2.6 for the initial field and lid speed, and during the run if
  the velocity grows so that ρ > 2.6 or a value becomes non-finite (never a silent NaN).

The impulsively started uniform lid is singular at the two top corners (the Thom wall vorticity
starts at −2U/h); the regularised lid removes the corner singularity.

Shapes: ``lid_speed: (B,)``; fields ``(B, n+1, n+1)``; trajectories ``(B, T, n+1, n+1)``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import fft

Array = NDArray[np.float64]
LidProfile = Literal["uniform", "regularised"]

#: Radius of a left half-disk contained in the classical RK4 stability region (sup is 2.6156).
RK4_HALF_DISK_RADIUS = 2.6


@dataclass(frozen=True)
class WallFormula:
    """Wall vorticity ω_w = c_psi ψ_1/h² + c_omega ω_1 + c_u U_w/h + c_uxx h ∂²U_w/∂x² (module doc).

    The last term only matters for a non-uniform lid: Woods' formula needs it (+h U_xx/2 on the
    top wall) to stay second order there; ∂²U_w/∂x² is the centred second difference of the lid.
    """

    name: str
    c_psi: float
    c_omega: float
    c_u: float
    c_uxx: float = 0.0


THOM = WallFormula("thom", -2.0, 0.0, -2.0)
WOODS = WallFormula("woods", -3.0, -0.5, -3.0, 0.5)


def lid_velocity(lid_speed: ArrayLike, n: int, profile: LidProfile = "uniform") -> Array:
    """Tangential lid velocity U·g(x_i) at the n+1 lid nodes: ``(B,) -> (B, n+1)``."""
    speed = np.atleast_1d(np.asarray(lid_speed, dtype=np.float64))
    if speed.ndim != 1 or not np.all(np.isfinite(speed)):
        raise ValueError(f"lid_speed must be a finite scalar or 1-D array, got shape {speed.shape}")
    x = np.linspace(0.0, 1.0, n + 1)
    if profile == "uniform":
        g = np.ones_like(x)
    elif profile == "regularised":
        g = 16.0 * x**2 * (1.0 - x) ** 2
    else:
        raise ValueError(f"profile must be 'uniform' or 'regularised', got {profile!r}")
    return speed[:, None] * g[None, :]


@functools.lru_cache(maxsize=16)
def _eigenvalues(n: int) -> Array:
    """Eigenvalues of −Δ_h on the (n−1)² interior nodes, h = 1/n: ``(n−1, n−1)`` (read-only)."""
    s = (2.0 * n * np.sin(np.arange(1, n) * np.pi / (2 * n))) ** 2
    lam = s[:, None] + s[None, :]
    lam.flags.writeable = False
    return lam


def solve_poisson(omega: Array) -> Array:
    """Solve −Δ_h ψ = ω with ψ = 0 on the walls; ``omega: (..., n+1, n+1)`` (walls ignored).

    Returns ψ of the same shape with zero walls. DST-I diagonalises the 5-point Laplacian exactly.
    """
    n = omega.shape[-1] - 1
    if omega.shape[-2] != n + 1 or n < 2:
        raise ValueError(f"omega must have shape (..., n+1, n+1) with n >= 2, got {omega.shape}")
    hat = fft.dstn(omega[..., 1:-1, 1:-1], type=1, axes=(-2, -1))
    psi = np.zeros_like(omega)
    psi[..., 1:-1, 1:-1] = fft.idstn(hat / _eigenvalues(n), type=1, axes=(-2, -1))
    return psi


def velocity(psi: Array, lid: Array) -> tuple[Array, Array]:
    """Velocity (u, v) = (ψ_y, −ψ_x): centred in the interior, prescribed on the walls.

    ``psi: (B, n+1, n+1)``, ``lid: (B, n+1)`` -> two ``(B, n+1, n+1)`` arrays.
    """
    n = psi.shape[-1] - 1
    u = np.zeros_like(psi)
    v = np.zeros_like(psi)
    u[:, 1:-1, 1:-1] = (psi[:, 1:-1, 2:] - psi[:, 1:-1, :-2]) * (n / 2.0)
    v[:, 1:-1, 1:-1] = -(psi[:, 2:, 1:-1] - psi[:, :-2, 1:-1]) * (n / 2.0)
    u[:, :, -1] = lid
    return u, v


def set_wall_vorticity(omega: Array, psi: Array, lid: Array, formula: WallFormula = THOM) -> None:
    """Fill the wall rows of ``omega`` (in place) from ψ, the interior ω and the lid velocity.

    Signs: bottom ω = −ψ_yy with ψ_y = u_w = 0; top ω = −ψ_yy with ψ_y = U (hence c_u·U/h);
    left/right walls are at rest.
    """
    n = psi.shape[-1] - 1
    h2 = float(n * n)
    c_psi, c_om = formula.c_psi * h2, formula.c_omega
    omega[:, 1:-1, 0] = c_psi * psi[:, 1:-1, 1] + c_om * omega[:, 1:-1, 1]
    omega[:, 1:-1, -1] = (
        c_psi * psi[:, 1:-1, -2] + c_om * omega[:, 1:-1, -2] + formula.c_u * n * lid[:, 1:-1]
    )
    if formula.c_uxx:
        omega[:, 1:-1, -1] += formula.c_uxx * n * (lid[:, 2:] - 2 * lid[:, 1:-1] + lid[:, :-2])
    omega[:, 0, 1:-1] = c_psi * psi[:, 1, 1:-1] + c_om * omega[:, 1, 1:-1]
    omega[:, -1, 1:-1] = c_psi * psi[:, -2, 1:-1] + c_om * omega[:, -2, 1:-1]


def _fill_corners(omega: Array) -> None:
    """Corner vorticity (never used by the interior stencils) := mean of the adjacent walls."""
    for i, i_n in ((0, 1), (-1, -2)):
        for j, j_n in ((0, 1), (-1, -2)):
            omega[:, i, j] = 0.5 * (omega[:, i, j_n] + omega[:, i_n, j])


def _rhs(omega: Array, lid: Array, nu: float, formula: WallFormula) -> tuple[Array, Array]:
    """Interior tendency ν Δ_h ω − u D_x ω − v D_y ω; also completes ω's walls; returns (dω, ψ)."""
    n = omega.shape[-1] - 1
    psi = solve_poisson(omega)
    set_wall_vorticity(omega, psi, lid, formula)
    c = omega[:, 1:-1, 1:-1]
    e, w = omega[:, 2:, 1:-1], omega[:, :-2, 1:-1]
    nn, s = omega[:, 1:-1, 2:], omega[:, 1:-1, :-2]
    u = (psi[:, 1:-1, 2:] - psi[:, 1:-1, :-2]) * (n / 2.0)
    v = -(psi[:, 2:, 1:-1] - psi[:, :-2, 1:-1]) * (n / 2.0)
    lap = (e + w + nn + s - 4.0 * c) * float(n * n)
    adv = (u * (e - w) + v * (nn - s)) * (n / 2.0)
    return nu * lap - adv, psi


def stability_radius(dt: float, n: int, nu: float, speed: float) -> float:
    """ρ = sqrt((8ν dt/h²)² + (dt·speed/h)²) with speed = max|u| + max|v| (module doc)."""
    return float(np.hypot(8.0 * nu * dt * n * n, dt * speed * n))


def _check_stable(dt: float, n: int, nu: float, speed: float, where: str) -> None:
    rho = stability_radius(dt, n, nu, speed)
    if not np.isfinite(rho) or rho > RK4_HALF_DISK_RADIUS:
        dt_max = RK4_HALF_DISK_RADIUS / np.hypot(8.0 * nu * n * n, speed * n)
        raise ValueError(
            f"dt={dt} is unstable {where}: stability radius {rho:.3g} > {RK4_HALF_DISK_RADIUS} "
            f"(n={n}, nu={nu}, max|u|+max|v|={speed:.3g}); need dt <= {dt_max:.3g}"
        )


@dataclass(frozen=True)
class CavityTrajectory:
    """Frames of a batch of cavities: ``t: (T,)``; ``omega, psi, u, v: (B, T, n+1, n+1)``."""

    t: Array
    omega: Array
    psi: Array
    u: Array
    v: Array
    lid: Array  # (B, n+1)
    steady_residual: Array  # (B,) max|ω^{k+1} − ω^k|/dt at the last step


def initial_state(psi0: Array | None, batch: int, n: int) -> Array:
    """Interior vorticity ω₀ = −Δ_h ψ₀ (walls filled later): ``psi0: (B, n+1, n+1)`` or None."""
    omega = np.zeros((batch, n + 1, n + 1))
    if psi0 is None:
        return omega
    if psi0.shape != (batch, n + 1, n + 1):
        raise ValueError(f"psi0 must have shape {(batch, n + 1, n + 1)}, got {psi0.shape}")
    if not np.all(np.isfinite(psi0)):
        raise ValueError("psi0 must be finite")
    p = psi0.astype(np.float64)
    omega[:, 1:-1, 1:-1] = -(
        p[:, 2:, 1:-1] + p[:, :-2, 1:-1] + p[:, 1:-1, 2:] + p[:, 1:-1, :-2] - 4 * p[:, 1:-1, 1:-1]
    ) * float(n * n)
    return omega


def simulate_cavity(
    lid_speed: ArrayLike,
    n: int,
    times: ArrayLike,
    dt: float,
    *,
    nu: float = 0.01,
    profile: LidProfile = "uniform",
    psi0: Array | None = None,
    formula: WallFormula = THOM,
    steady_tol: float | None = None,
) -> CavityTrajectory:
    """Integrate from t = 0 (lid started impulsively) and record frames at ``times: (T,)``.

    ``psi0: (B, n+1, n+1)`` is an optional initial streamfunction (zero on the walls; the fluid is
    at rest when None). ``times`` must be non-decreasing, >= 0 and multiples of ``dt`` (to 1e−9).
    With ``steady_tol`` the run stops early once max|ω^{k+1} − ω^k|/dt < steady_tol for every
    sample; the remaining frames are then the steady state (and ``t`` is unchanged).
    """
    lid = lid_velocity(lid_speed, n, profile)
    batch = lid.shape[0]
    t_out = np.asarray(times, dtype=np.float64)
    if t_out.ndim != 1 or t_out.size == 0 or np.any(np.diff(t_out) < 0) or t_out[0] < 0:
        raise ValueError(f"times must be a non-empty non-decreasing 1-D array >= 0, got {t_out}")
    if not (dt > 0 and np.isfinite(dt)) or not nu > 0:
        raise ValueError(f"dt and nu must be positive, got dt={dt}, nu={nu}")
    steps = np.rint(t_out / dt).astype(np.int64)
    if np.any(np.abs(steps * dt - t_out) > 1e-9 * np.maximum(1.0, t_out)):
        raise ValueError(f"times must be multiples of dt={dt}, got {t_out}")
    omega = initial_state(psi0, batch, n)
    deriv, psi = _rhs(omega, lid, nu, formula)
    u0, v0 = velocity(psi, lid)
    _check_stable(dt, n, nu, float(np.abs(u0).max() + np.abs(v0).max()), "for the initial field")

    shape = (batch, t_out.size, n + 1, n + 1)
    out = {k: np.empty(shape) for k in ("omega", "psi", "u", "v")}
    residual = np.full(batch, np.inf)
    step, k_out, steady = 0, 0, False
    while k_out < t_out.size:
        while not steady and step < steps[k_out]:
            k1 = deriv
            k2, _ = _rhs(_stage(omega, k1, 0.5 * dt), lid, nu, formula)
            k3, _ = _rhs(_stage(omega, k2, 0.5 * dt), lid, nu, formula)
            k4, _ = _rhs(_stage(omega, k3, dt), lid, nu, formula)
            incr = (k1 + 2.0 * (k2 + k3) + k4) / 6.0
            omega[:, 1:-1, 1:-1] += dt * incr
            deriv, psi = _rhs(omega, lid, nu, formula)
            step += 1
            residual = np.abs(incr).max(axis=(-2, -1))
            if steady_tol is not None and np.all(residual < steady_tol):
                steady = True
        if not np.all(np.isfinite(omega)):
            raise ValueError(f"non-finite vorticity at t={step * dt}: dt={dt} too large")
        _fill_corners(omega)
        u, v = velocity(psi, lid)
        _check_stable(dt, n, nu, float(np.abs(u).max() + np.abs(v).max()), f"at t={step * dt}")
        for key, val in (("omega", omega), ("psi", psi), ("u", u), ("v", v)):
            out[key][:, k_out] = val
        k_out += 1
    return CavityTrajectory(t_out, out["omega"], out["psi"], out["u"], out["v"], lid, residual)


def _stage(omega: Array, k: Array, a: float) -> Array:
    """ω + a·k on the interior (walls are recomputed from ψ by the next tendency evaluation)."""
    w = omega.copy()
    w[:, 1:-1, 1:-1] += a * k
    return w
