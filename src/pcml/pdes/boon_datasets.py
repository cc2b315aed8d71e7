r"""Single-step and multi-step datasets of the four BOON 1-D experiments as ``pcml.data.PDEData``.

A dataset holds ``fields["u"]: (n_traj, n_steps, n_x)`` float32 (computed in float64):

* step 0 is the input u₀ = u(·, 0);
* single-step: one target, u(·, t_single)             (n_steps = 2);
* multi-step: the last ``n_frames`` of ``n_times`` equispaced times on [0, t_final]
  (n_steps = 1 + n_frames).

``time`` holds the matching times (0 first).  ``boundary`` has one ``BoundaryData`` per end of x:
Dirichlet values are u at the ends ``(n_traj, n_steps)`` (the end columns of the field equal them
bit for bit); Neumann values are the prescribed fluxes u_x(0) = 0 and u_x(1) = U sin(πt), exact
for the continuous solution (``stencil_order=None``: the data follow no stencil); periodic has no
values.  Periodic data live on the **closed** grid x_j = j/(n_x − 1), j = 0 … n_x − 1: the solve
runs on the open grid of ``n_solver`` points, is subsampled to the n_x − 1 distinct points, and the
value at x = 0 is copied into the appended endpoint x = 1.  (The original instead overwrote the
last of 128 distinct samples with the first, which changes the data.)

Every generator parameter, the time window and the grid are recorded in ``constants`` and every
per-trajectory parameter in ``params`` (the original's notebooks left them ambiguous, boon.md
§14.14).  Paper sizes are the defaults of each ``CaseSpec``; values marked "chosen" are pcml's,
because the original's are not available (boon.md §11.2, §13).

| case              | BC        | single | multi-step window     | n_x s/m  | split s / m       |
|-------------------|-----------|--------|-----------------------|----------|-------------------|
| heat-neumann      | Neumann   | 0.5    | 25 of 200 on [0, 0.5] | 500/1024 | 500+100/1000+200  |
| stokes-dirichlet  | Dirichlet | 1.2 c  | 25 of 26 on [0, 1.2] c| 500/500  | 500+100 c/1000+200|
| burgers-dirichlet | Dirichlet | 1.0 c  | 25 of 101 on [0, 1] c | 500/500 c| 500+100/1000+200 c|
| burgers-periodic  | periodic  | 1.0    | 25 of 101 on [0, 1]   | 129/129  | 500+100/1000+200  |

("c" = chosen by pcml; 129 = 128 distinct points + the periodic endpoint.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pcml.data import BoundaryData, PDEData
from pcml.pdes.burgers_dirichlet import (
    BurgersDirichletProblem,
    burgers_dirichlet_cole_hopf,
    burgers_dirichlet_ends,
)
from pcml.pdes.burgers_periodic import BurgersPeriodicProblem, burgers_periodic_etdrk4
from pcml.pdes.grf import sample_periodic_grf
from pcml.pdes.heat_neumann import HeatNeumannProblem, heat_neumann_flux, heat_neumann_solution
from pcml.pdes.stokes import StokesProblem, stokes_boundary_values, stokes_solution

FloatArray = NDArray[np.float64]
Problem = HeatNeumannProblem | StokesProblem | BurgersDirichletProblem | BurgersPeriodicProblem

__all__ = ["CASES", "CaseSpec", "TimeWindow", "build_dataset"]

GENERATOR_VERSION = "1"
_CHUNK = 64  # trajectories solved at once (memory bound); draws happen before chunking


@dataclass(frozen=True)
class TimeWindow:
    """Target times: single-step ``[0, t_single]``; multi-step ``[0, *linspace(0, t_final,
    n_times)[-n_frames:]]``."""

    t_single: float
    t_final: float
    n_times: int
    n_frames: int = 25

    def __post_init__(self) -> None:
        if not (self.t_single > 0 and self.t_final > 0):
            raise ValueError(
                f"t_single and t_final must be > 0, got {self.t_single}, {self.t_final}"
            )
        if not 1 <= self.n_frames < self.n_times:
            raise ValueError(f"need 1 <= n_frames < n_times, got {self.n_frames}, {self.n_times}")

    def times(self, multi_step: bool) -> FloatArray:
        """``(n_steps,)``: 0 followed by the target times."""
        if multi_step:
            targets = np.linspace(0.0, self.t_final, self.n_times)[-self.n_frames :]
        else:
            targets = np.array([self.t_single])
        return np.concatenate([[0.0], targets])


@dataclass(frozen=True)
class CaseSpec:
    """One BOON 1-D experiment: BC kind, generator parameters, time window and paper sizes."""

    name: str
    bc_kind: str
    problem: Problem
    window: TimeWindow
    n_x_single: int
    n_x_multi: int
    n_train_single: int
    n_test_single: int
    n_train_multi: int
    n_test_multi: int

    def n_x(self, multi_step: bool) -> int:
        return self.n_x_multi if multi_step else self.n_x_single

    def n_traj(self, multi_step: bool) -> int:
        if multi_step:
            return self.n_train_multi + self.n_test_multi
        return self.n_train_single + self.n_test_single


CASES: Mapping[str, CaseSpec] = MappingProxyType(
    {
        "heat-neumann": CaseSpec(
            "heat-neumann", "neumann", HeatNeumannProblem(), TimeWindow(0.5, 0.5, 200),
            500, 1024, 500, 100, 1000, 200,
        ),
        "stokes-dirichlet": CaseSpec(
            "stokes-dirichlet", "dirichlet", StokesProblem(), TimeWindow(1.2, 1.2, 26),
            500, 500, 500, 100, 1000, 200,
        ),
        "burgers-dirichlet": CaseSpec(
            "burgers-dirichlet", "dirichlet", BurgersDirichletProblem(), TimeWindow(1.0, 1.0, 101),
            500, 500, 500, 100, 1000, 200,
        ),
        "burgers-periodic": CaseSpec(
            "burgers-periodic", "periodic", BurgersPeriodicProblem(), TimeWindow(1.0, 1.0, 101),
            129, 129, 500, 100, 1000, 200,
        ),
    }
)  # fmt: skip

# A generator returns u (n_traj, n_steps, n_x) float64, params {name: (n_traj,)}, and the boundary
# values (lower, upper) (n_traj, n_steps) or None (periodic).
_Result = tuple[FloatArray, dict[str, FloatArray], tuple[FloatArray, FloatArray] | None]


def _chunked(n_traj: int, solve: Callable[[slice], FloatArray]) -> FloatArray:
    return np.concatenate([solve(slice(i, i + _CHUNK)) for i in range(0, n_traj, _CHUNK)])


def _heat(p: Any, x: FloatArray, t: FloatArray, n_traj: int, rng: np.random.Generator) -> _Result:
    omega = p.sample_omega(n_traj, rng)
    if p.varies_amplitude:  # U per trajectory; u is affine in U: u(U) = u(0) + U (u(1) − u(0))
        amp = p.sample_amplitude(n_traj, rng)
        p0, p1 = (dataclasses.replace(p, heater_amplitude=a) for a in (0.0, 1.0))
        u0 = _chunked(n_traj, lambda s: heat_neumann_solution(omega[s], x, t, p0))
        u1 = _chunked(n_traj, lambda s: heat_neumann_solution(omega[s], x, t, p1))
        u = u0 + amp[:, None, None] * (u1 - u0)
        lower, unit = heat_neumann_flux(t, p1)
        return u, {"omega": omega, "amplitude": amp}, (
            np.zeros((n_traj, 1)) + lower, amp[:, None] * unit
        )  # fmt: skip
    u = _chunked(n_traj, lambda s: heat_neumann_solution(omega[s], x, t, p))
    lower, upper = heat_neumann_flux(t, p)
    ones = np.ones((n_traj, 1))
    return u, {"omega": omega}, (ones * lower, ones * upper)


def _stokes(p: Any, x: FloatArray, t: FloatArray, n_traj: int, rng: np.random.Generator) -> _Result:
    prm = p.sample(n_traj, rng)
    u = stokes_solution(prm, x, t)
    lower, upper = stokes_boundary_values(prm, t)
    u[..., 0], u[..., -1] = lower, upper  # equal to round-off; make them bitwise equal
    params = {"omega": prm.omega, "amplitude": prm.amplitude, "viscosity": prm.viscosity}
    return u, params, (lower, upper)


def _burgers_d(
    p: Any, x: FloatArray, t: FloatArray, n_traj: int, rng: np.random.Generator
) -> _Result:
    coeffs = p.sample_coefficients(n_traj, rng)
    if p.varies_ends:  # u(0) = a, u(1) = b per trajectory: method of lines (Cole–Hopf needs 0)
        a, b = p.sample_ends(n_traj, rng)
        u = burgers_dirichlet_ends(coeffs, a, b, x, t, p)
        return u, {"end_lower": a, "end_upper": b}, (u[..., 0].copy(), u[..., -1].copy())
    u = _chunked(n_traj, lambda s: burgers_dirichlet_cole_hopf(coeffs[s], x, t, p))
    u[..., 0] = u[..., -1] = 0.0  # sin(mπ·1) is ~1e−16, not 0, in floating point
    zeros = np.zeros((n_traj, t.size))
    return u, {}, (zeros, zeros.copy())


def _burgers_p(
    p: Any, x: FloatArray, t: FloatArray, n_traj: int, rng: np.random.Generator
) -> _Result:
    n_open = x.size - 1
    if p.n_solver % n_open:
        raise ValueError(
            f"n_x - 1 = {n_open} must divide n_solver = {p.n_solver} (closed periodic grid)"
        )
    u0 = sample_periodic_grf(p.spectrum, n_traj, p.n_solver, rng)
    stride = p.n_solver // n_open
    solve = lambda s: burgers_periodic_etdrk4(u0[s], t, p.viscosity, p.dt)[..., ::stride]  # noqa: E731
    u = _chunked(n_traj, solve)
    return np.concatenate([u, u[..., :1]], axis=-1), {}, None


_GENERATORS: Mapping[str, Callable[..., _Result]] = MappingProxyType(
    {
        "heat-neumann": _heat,
        "stokes-dirichlet": _stokes,
        "burgers-dirichlet": _burgers_d,
        "burgers-periodic": _burgers_p,
    }
)
_SOLVERS = {
    "heat-neumann": "pcml.pdes.heat_neumann.heat_neumann_solution",
    "stokes-dirichlet": "pcml.pdes.stokes.stokes_solution",
    "burgers-dirichlet": "pcml.pdes.burgers_dirichlet.burgers_dirichlet_cole_hopf",
    "burgers-periodic": "pcml.pdes.burgers_periodic.burgers_periodic_etdrk4",
}


def _flatten(obj: Any, prefix: str = "") -> dict[str, float | int | str | bool]:
    """Scalar fields of a (nested) frozen dataclass as ``{prefix + name: value}``."""
    out: dict[str, float | int | str | bool] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(_flatten(value, f"{prefix}{f.name}_"))
        elif value is None:  # an unset option (e.g. no boundary-data range) is not recorded
            continue
        else:
            out[prefix + f.name] = value
    return out


def _apply_overrides(spec: CaseSpec, overrides: Mapping[str, Any]) -> tuple[Problem, TimeWindow]:
    problem_keys = {f.name for f in dataclasses.fields(spec.problem)}
    window_keys = {f.name for f in dataclasses.fields(spec.window)}
    unknown = sorted(set(overrides) - problem_keys - window_keys)
    if unknown:
        raise ValueError(
            f"overrides: unknown keys {unknown} for case {spec.name!r}; expected some of "
            f"{sorted(problem_keys | window_keys)}"
        )
    problem = dataclasses.replace(
        spec.problem, **{k: v for k, v in overrides.items() if k in problem_keys}
    )
    window = dataclasses.replace(
        spec.window, **{k: v for k, v in overrides.items() if k in window_keys}
    )
    return problem, window


def build_dataset(
    case: str,
    n_traj: int | None = None,
    n_x: int | None = None,
    multi_step: bool = False,
    seed: int = 0,
    **overrides: Any,
) -> PDEData:
    """Generate one BOON 1-D dataset.

    Args:
        case: one of ``CASES`` ("heat-neumann", "stokes-dirichlet", "burgers-dirichlet",
            "burgers-periodic").
        n_traj: trajectories (default: the paper's train + test size for the task).
        n_x: grid points including both ends (default: the paper's grid; closed grid when
            periodic).
        multi_step: u₀ → ``n_frames`` frames instead of u₀ → u(t_single).
        seed: seed of the ``np.random.Generator`` that draws all random parameters.
        **overrides: fields of the case's problem dataclass (e.g. ``viscosity``, ``n_modes``,
            ``omega_max``, ``dt``) or of its ``TimeWindow`` (``t_single``, ``t_final``,
            ``n_times``, ``n_frames``).

    Returns:
        ``PDEData`` with ``fields["u"]: (n_traj, n_steps, n_x)`` float32, ``time: (n_steps,)``,
        ``coords["x"]: (n_x,)``, per-trajectory ``params``, all settings in ``constants``.
    """
    if case not in CASES:
        raise ValueError(f"case: got {case!r}, expected one of {sorted(CASES)}")
    spec = CASES[case]
    n_traj = spec.n_traj(multi_step) if n_traj is None else n_traj
    n_x = spec.n_x(multi_step) if n_x is None else n_x
    if isinstance(n_traj, bool) or not isinstance(n_traj, int) or n_traj < 1:
        raise ValueError(f"n_traj: got {n_traj!r}, expected an int >= 1")
    if isinstance(n_x, bool) or not isinstance(n_x, int) or n_x < 5:
        raise ValueError(f"n_x: got {n_x!r}, expected an int >= 5")
    problem, window = _apply_overrides(spec, overrides)
    x = np.linspace(0.0, 1.0, n_x)
    t = window.times(multi_step)
    rng = np.random.default_rng(seed)
    u, params, values = _GENERATORS[case](problem, x, t, n_traj, rng)
    if not np.all(np.isfinite(u)):
        raise RuntimeError(f"{case}: the generator produced non-finite values")

    u32 = u.astype(np.float32)
    if values is None:
        boundary = tuple(BoundaryData("x", side, "periodic", None) for side in ("lower", "upper"))
    else:
        if spec.bc_kind == "dirichlet":  # the end columns of the stored field, bit for bit
            values32 = (u32[..., 0].copy(), u32[..., -1].copy())
        else:
            values32 = (values[0].astype(np.float32), values[1].astype(np.float32))
        boundary = tuple(
            BoundaryData("x", side, spec.bc_kind, v)
            for side, v in zip(("lower", "upper"), values32, strict=True)
        )
    constants: dict[str, float | int | str | bool] = {
        "case": case,
        "bc_kind": spec.bc_kind,
        "multi_step": multi_step,
        "n_x": n_x,
        "grid": "closed, endpoint = copy of x=0" if spec.bc_kind == "periodic" else "closed",
        **_flatten(problem),
        **{f"window_{k}": v for k, v in _flatten(window).items()},
    }
    return PDEData(
        name=f"boon-{case}-{'multi' if multi_step else 'single'}",
        fields={"u": u32},
        time=t,
        coords={"x": x},
        params=params,
        constants=constants,
        boundary=boundary,
        generator=_SOLVERS[case],
        generator_version=GENERATOR_VERSION,
        seed=seed,
    )
