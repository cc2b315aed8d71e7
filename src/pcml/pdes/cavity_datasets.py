r"""Lid-driven cavity datasets (BOON's 2-D Dirichlet experiment) as ``pcml.data.PDEData``.

Each trajectory solves ω_t + u·∇ω = ν Δω, −Δψ = ω, (u, v) = (ψ_y, −ψ_x) on [0, 1]² with a lid
u(x, 1) = U·g(x) and no slip elsewhere (``pcml.pdes.cavity``), ν fixed, and varies what a user of a
cavity surrogate would vary (pcml's choice; the original's sample law is not available, boon.md
§11.2):

* lid speed U ~ Uniform(``lid_speed_range``) (default [0.5, 1.5]), i.e. Re = U/ν ∈ [50, 150]
  for ν = 0.01, the lid started impulsively at t = 0 (as in the original's initial-field figure);
* a random smooth initial vortex: ψ₀ = Σ_{j,k=1}^{K} c_jk φ_j(x) φ_k(y), φ_j(s) = s(1−s) sin(jπs),
  c_jk ~ N(0, 1)/(j² + k²), K = ``init_modes``, rescaled so that max|(u₀, v₀)| = the drawn
  ``init_speed`` ~ Uniform(``init_speed_range``) (default [0, 0.5]). ψ₀ and ∇ψ₀ vanish on the
  walls, so the initial field satisfies no-slip; ω₀ = −Δ_h ψ₀ on the simulation grid.

Layout (grid includes the walls, (n+1)² nodes, x_i = i/n; ``fields[k]: (n_traj, n_steps, n+1,
n+1)`` float32 computed in float64, ``[traj, step, i(x), j(y)]``):

* ``"u"``, ``"v"``: velocity; ``"omega"``: vorticity;
* step 0 (t = 0) is the model input: the initial velocity with the lid speed in its top row (a
  physically meaningful input: what a user sets up); steps 1..n_frames are the targets at
  t_k = k·t_final/n_frames;
* simulated on the ``refine``-times finer grid (n·refine intervals, the stability-limited RK4 step
  of ``pcml.pdes.cavity``) and subsampled, so the stored data carry the fine grid's accuracy (at
  n·refine = 64 the steady Re = 100 centrelines agree with Ghia et al. to 6e−3).

Boundary data (``PDEData.boundary``): one Dirichlet ``BoundaryData`` per face whose values are
the **prescribed wall values of u** (U·g(x) on the lid y = 1, corners included; 0 on the other
walls), ``(n_traj, 1, n+1)`` (constant in time); v = 0 on every wall (no penetration) —
``cavity_boundary(data, "v")`` returns those faces. Both are physical boundary conditions.

Wall vorticity is **not** prescribed physics: it follows from the flow (here from Thom's formula).
The original BOON notebook handed the model the ground-truth wall vorticity of the target frames
(an oracle, boon.md §11.2, §14.12). pcml prefers predicting velocity, where the Dirichlet data is
physical; ``cavity_boundary(data, "omega", oracle=True)`` returns the true vorticity traces only
when asked for explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np
from numpy.typing import NDArray

from pcml.data import BoundaryData, PDEData
from pcml.pdes.cavity import (
    RK4_HALF_DISK_RADIUS,
    THOM,
    LidProfile,
    lid_velocity,
    simulate_cavity,
    velocity,
)

__all__ = ["build_cavity_dataset", "cavity_boundary", "random_streamfunction"]

GENERATOR_VERSION = "1"
_CHUNK = 32  # trajectories integrated at once; all random draws happen before chunking
_FACES = (("x", "lower"), ("x", "upper"), ("y", "lower"), ("y", "upper"))


def random_streamfunction(coeffs: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """ψ₀ = Σ_jk c_jk φ_j(x) φ_k(y) with φ_j(s) = s(1−s) sin(jπs) on the (n+1)² grid.

    ``coeffs: (B, K, K)`` -> ``(B, n+1, n+1)``; ψ₀ = ∂ψ₀/∂n = 0 on the walls.
    """
    if coeffs.ndim != 3 or coeffs.shape[1] != coeffs.shape[2]:
        raise ValueError(f"coeffs must have shape (B, K, K), got {coeffs.shape}")
    s = np.linspace(0.0, 1.0, n + 1)
    j = np.arange(1, coeffs.shape[1] + 1)
    phi = (s * (1 - s))[None, :] * np.sin(np.pi * j[:, None] * s[None, :])  # (K, n+1)
    return np.einsum("bjk,jx,ky->bxy", coeffs, phi, phi)


def _stable_dt(n_sim: int, nu: float, speed: float, frame_dt: float) -> float:
    """Largest dt = frame_dt/m within 0.92 of the RK4 half-disk bound for max|u|+max|v| = speed."""
    dt_max = 0.92 * RK4_HALF_DISK_RADIUS / np.hypot(8.0 * nu * n_sim**2, speed * n_sim)
    return frame_dt / int(np.ceil(frame_dt / dt_max))


def build_cavity_dataset(
    n_traj: int,
    n: int,
    n_frames: int = 25,
    seed: int = 0,
    *,
    nu: float = 0.01,
    lid_speed_range: tuple[float, float] = (0.5, 1.5),
    init_speed_range: tuple[float, float] = (0.0, 0.5),
    init_modes: int = 4,
    profile: LidProfile = "uniform",
    t_final: float = 1.0,
    refine: int = 2,
) -> PDEData:
    """Generate ``n_traj`` cavity trajectories on the (n+1)² grid (module doc for the layout).

    Fields ``"u"``, ``"v"``, ``"omega"``: ``(n_traj, 1 + n_frames, n+1, n+1)`` float32; ``time``:
    ``(1 + n_frames,)``; coords ``"x"``, ``"y"``: ``(n+1,)``; params ``"lid_speed"``,
    ``"reynolds"`` (= U/ν), ``"init_speed"``: ``(n_traj,)``; Dirichlet u wall values on 4 faces.
    """
    for name, val, lo in (("n_traj", n_traj, 1), ("n", n, 4), ("n_frames", n_frames, 1)):
        if isinstance(val, bool) or not isinstance(val, int) or val < lo:
            raise ValueError(f"{name} must be an int >= {lo}, got {val!r}")
    if isinstance(refine, bool) or not isinstance(refine, int) or refine < 1:
        raise ValueError(f"refine must be an int >= 1, got {refine!r}")
    if not (nu > 0 and t_final > 0):
        raise ValueError(f"nu and t_final must be > 0, got nu={nu}, t_final={t_final}")
    for name, (a, b) in (
        ("lid_speed_range", lid_speed_range),
        ("init_speed_range", init_speed_range),
    ):
        if not (0 <= a <= b and np.isfinite(b)):
            raise ValueError(f"{name} must satisfy 0 <= low <= high < inf, got {(a, b)}")
    if lid_speed_range[1] <= 0:
        raise ValueError(f"lid_speed_range must allow a moving lid, got {lid_speed_range}")
    if isinstance(init_modes, bool) or not isinstance(init_modes, int) or init_modes < 1:
        raise ValueError(f"init_modes must be an int >= 1, got {init_modes!r}")

    rng = np.random.default_rng(seed)
    lid_speed = rng.uniform(*lid_speed_range, size=n_traj)
    init_speed = rng.uniform(*init_speed_range, size=n_traj)
    j = np.arange(1, init_modes + 1)
    scale = 1.0 / (j[:, None] ** 2 + j[None, :] ** 2)
    coeffs = rng.standard_normal((n_traj, init_modes, init_modes)) * scale

    n_sim = n * refine
    times = t_final * np.arange(n_frames + 1) / n_frames
    speed = 1.6 * lid_speed_range[1] + 2.0 * init_speed_range[1]
    dt = _stable_dt(n_sim, nu, speed, t_final / n_frames)
    shape = (n_traj, n_frames + 1, n + 1, n + 1)
    out = {k: np.empty(shape, dtype=np.float32) for k in ("u", "v", "omega")}
    for start in range(0, n_traj, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n_traj))
        psi0 = random_streamfunction(coeffs[sl], n_sim)
        u0, v0 = velocity(psi0, np.zeros((psi0.shape[0], n_sim + 1)))
        peak = np.sqrt(u0**2 + v0**2).max(axis=(-2, -1))
        psi0 *= (init_speed[sl] / np.where(peak > 0, peak, 1.0))[:, None, None]
        tr = simulate_cavity(
            lid_speed[sl], n_sim, times, dt, nu=nu, profile=profile, psi0=psi0, formula=THOM
        )
        for key in out:
            out[key][sl] = getattr(tr, key)[:, :, ::refine, ::refine]

    x = np.linspace(0.0, 1.0, n + 1)
    constants: dict[str, float | int | str] = {
        "nu": float(nu),
        "lid_profile": profile,
        "lid_speed_low": float(lid_speed_range[0]),
        "lid_speed_high": float(lid_speed_range[1]),
        "init_speed_low": float(init_speed_range[0]),
        "init_speed_high": float(init_speed_range[1]),
        "init_modes": int(init_modes),
        "t_final": float(t_final),
        "n_sim": int(n_sim),
        "refine": int(refine),
        "dt": float(dt),
        "wall_vorticity_formula": THOM.name,
        "time_stepper": "rk4",
        "boundary_field": "u",
        "boundary_note": "faces hold prescribed u; v = 0 on all walls; wall omega not prescribed",
    }
    data = PDEData(
        name="boon-cavity",
        fields=out,
        time=times,
        coords={"x": x, "y": x.copy()},
        params={"lid_speed": lid_speed, "reynolds": lid_speed / nu, "init_speed": init_speed},
        constants=constants,
        boundary=(),
        generator="pcml.pdes.cavity_datasets.build_cavity_dataset",
        generator_version=GENERATOR_VERSION,
        seed=seed,
    )
    return _with_boundary(data, cavity_boundary(data, "u"))


def _with_boundary(data: PDEData, boundary: tuple[BoundaryData, ...]) -> PDEData:
    return PDEData(
        name=data.name,
        fields=data.fields,
        time=data.time,
        coords=data.coords,
        params=data.params,
        constants=data.constants,
        boundary=boundary,
        generator=data.generator,
        generator_version=data.generator_version,
        seed=data.seed,
    )


def cavity_boundary(
    data: PDEData, field: str = "u", *, oracle: bool = False
) -> tuple[BoundaryData, ...]:
    """Dirichlet data of ``field`` on the 4 walls of a cavity dataset, faces x/y lower/upper.

    ``"u"``: U·g(x) on y = 1 (corners included), 0 elsewhere; ``"v"``: 0 everywhere; values
    ``(n_traj, 1, n+1)`` float32, rebuilt from ``params["lid_speed"]`` and the lid profile, so they
    are prescribed data, not read from the targets. ``"omega"`` is refused unless ``oracle=True``:
    wall vorticity is not prescribed, and the oracle values are the true traces of the stored
    frames ``(n_traj, n_steps, n+1)`` (what the original gave BOON).
    """
    u_field = data.fields.get("u")
    if u_field is None or "lid_speed" not in data.params:
        raise ValueError("data must be a cavity dataset with field 'u' and param 'lid_speed'")
    n = u_field.shape[-1] - 1
    if field in ("u", "v"):
        zeros = np.zeros((data.n_traj, 1, n + 1), dtype=np.float32)
        faces: Mapping[tuple[str, str], NDArray[np.float32]] = dict.fromkeys(_FACES, zeros)
        if field == "u":
            profile = data.constants.get("lid_profile", "uniform")
            if profile not in ("uniform", "regularised"):
                raise ValueError(f"constants['lid_profile'] must be a lid profile, got {profile!r}")
            lid = lid_velocity(data.params["lid_speed"], n, cast(LidProfile, profile))
            top = lid.astype(np.float32)[:, None, :]
            side = np.zeros_like(zeros)
            side[:, :, -1] = top[:, :, 0]
            faces = {("x", "lower"): side, ("x", "upper"): side.copy(), ("y", "lower"): zeros}
            faces = {**faces, ("y", "upper"): top}
        return tuple(BoundaryData(a, s, "dirichlet", faces[(a, s)]) for a, s in _FACES)
    if field == "omega":
        if not oracle:
            raise ValueError(
                "field='omega': wall vorticity is not prescribed physics (it follows from the "
                "flow); pass oracle=True to get the true traces and say so in your results"
            )
        w = np.asarray(data.fields["omega"])
        traces = {
            ("x", "lower"): w[:, :, 0, :],
            ("x", "upper"): w[:, :, -1, :],
            ("y", "lower"): w[:, :, :, 0],
            ("y", "upper"): w[:, :, :, -1],
        }
        return tuple(BoundaryData(a, s, "dirichlet", traces[(a, s)].copy()) for a, s in _FACES)
    raise ValueError(f"field must be 'u', 'v' or 'omega', got {field!r}")
