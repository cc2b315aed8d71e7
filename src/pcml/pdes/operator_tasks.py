"""Operator-learning tasks of Operator-ProbConserv (Mouli et al. 2024): θ ↦ u(·, ·; θ) on a grid.

For a GPME problem with closed form u(t, x; θ) and mass b(t; θ) = ∫_Ω u dx (``pcml.pdes.gpme``),
one sample is

    input  a  (C_in, n_x, n_t):  channels [θ_1, …, θ_P, x̂, t̂]  (θ broadcast to every node,
                                 x̂ = (x − x_0)/|Ω|, t̂ = t/t_max in [0, 1]),
    output u  (1, n_x, n_t):     u(t_j, x_i; θ),
    mass   b  (n_t,):            b(t_j; θ)  (float64, exact),

on the closed grid x_i = x_0 + i |Ω|/(n_x − 1) (both endpoints, so the trapezoid weights g of
``quadrature_weights`` integrate over all of Ω; for the periodic heat problem this is the exact
periodic rule) and t_j = t_max (j + 1)/n_t (t = 0 is left out: there the solution is the known
initial condition). θ_1 is the problem's parameter (heat k, PME m, Stefan u*, advection a); heat
also draws its phase θ_2 ~ U(phase_range) when that range is not a single point.

Splits (:func:`make_operator_split`): ``train``, ``valid`` and ``test`` (in domain) draw θ_1 from
``train_range``; the out-of-domain tests ``small``, ``medium`` and ``large`` draw θ_1 from the
ranges in ``shifts``. Every split has its own seeded ``numpy.random.Generator`` (seed, split index),
so splits are reproducible and independent. The horizons keep every front inside Ω for every range
(Stefan: t_max = 0.4 < 1/α² = 0.478 at u* = 0.4; advection: 0.5 + 8 · 0.06 = 0.98 < 1), which
:meth:`OperatorTask.check` verifies; the original ran Stefan to t = 1, after the front had left.

pcml's choices (the follow-up's values are known only through an unverified summary, reference
§10): heat k ∈ [1, 5] → [5, 6], [6, 7], [7, 8] (as reported); PME m ∈ [1, 4] → [4, 5], [5, 6],
[6, 7]; Stefan u* ∈ [0.55, 0.70] (ProbConserv's range) → [0.50, 0.55], [0.45, 0.50], [0.40, 0.45]
(lower u*: faster front, larger jump); advection a ∈ [1, 5] → [5, 6], [6, 7], [7, 8].

``stefan_anp`` is Stefan (``pde = "stefan"``) on the ProbConserv-ANP test setting, for comparing
with that experiment: t ∈ (0, 0.1] on a 201 × 10 grid t_j = 0.01 (j + 1), so t* = 0.05 = t_4 and
x_i = i/200 are the ANP's evaluation points; same ranges as ``stefan``.
:func:`operator_split_at` builds the samples of given parameters (e.g. u* ∈ {0.5, 0.6}).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from pcml.pdes.gpme import Diffusion, get_problem

__all__ = [
    "OPERATOR_TASKS",
    "SHIFT_NAMES",
    "SPLIT_NAMES",
    "OperatorSplit",
    "OperatorTask",
    "get_operator_task",
    "make_operator_split",
    "operator_split_at",
]

#: Out-of-domain shifts, from the smallest to the largest.
SHIFT_NAMES: tuple[str, ...] = ("small", "medium", "large")
#: Every split, in the order of their seeds.
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test", *SHIFT_NAMES)


@dataclass(frozen=True)
class OperatorTask:
    """One operator task: problem name, parameter ranges, horizon and grid sizes.

    problem: a ``pcml.pdes.gpme`` name ("diffusion", "pme", "stefan", "advection");
    train_range: θ_1 ~ U(train_range) for train/valid/test; shifts: ((name, (lo, hi)), …) for the
    OOD tests, names from :data:`SHIFT_NAMES`; t_max: the horizon; n_x, n_t: grid sizes;
    phase_range: heat only, the phase θ_2 ~ U(phase_range) (a point range keeps it fixed and adds
    no input channel).
    """

    problem: str
    train_range: tuple[float, float]
    shifts: tuple[tuple[str, tuple[float, float]], ...]
    t_max: float
    n_x: int = 100
    n_t: int = 20
    phase_range: tuple[float, float] = (0.0, 0.0)
    pde: str = ""

    def __post_init__(self) -> None:
        if self.problem not in OPERATOR_TASKS:
            raise ValueError(
                f"problem: got {self.problem!r}, expected one of {sorted(OPERATOR_TASKS)}"
            )
        if self.n_x < 3 or self.n_t < 1:
            raise ValueError(
                f"n_x, n_t: expected n_x >= 3 and n_t >= 1, got {self.n_x}, {self.n_t}"
            )
        if not self.t_max > 0:
            raise ValueError(f"t_max: expected > 0, got {self.t_max}")
        names = tuple(name for name, _ in self.shifts)
        if names != SHIFT_NAMES:
            raise ValueError(f"shifts: expected the names {SHIFT_NAMES} in order, got {names}")
        for name, (lo, hi) in (("train_range", self.train_range), *self.shifts):
            if not lo < hi:
                raise ValueError(f"{name}: expected lo < hi, got ({lo}, {hi})")
        if self.phase_range[0] > self.phase_range[1]:
            raise ValueError(f"phase_range: expected lo <= hi, got {self.phase_range}")
        if self.gpme != "diffusion" and self.phase_range != (0.0, 0.0):
            raise ValueError(
                f"phase_range: only the diffusion task has a phase, got {self.phase_range}"
            )
        self.check()

    @property
    def gpme(self) -> str:
        """The ``pcml.pdes.gpme`` problem of the task (``pde``, or ``problem`` when empty)."""
        return self.pde or self.problem

    @property
    def param_name(self) -> str:
        return get_problem(self.gpme).param_name

    @property
    def varies_phase(self) -> bool:
        return self.phase_range[0] < self.phase_range[1]

    @property
    def in_channels(self) -> int:
        """C_in = number of parameters + 2 coordinates."""
        return 3 + int(self.varies_phase)

    @property
    def x_range(self) -> tuple[float, float]:
        return get_problem(self.gpme).x_range

    def x_grid(self) -> np.ndarray:
        """(n_x,) float64, closed grid on Ω."""
        x0, x1 = self.x_range
        return np.linspace(x0, x1, self.n_x)

    def t_grid(self) -> np.ndarray:
        """(n_t,) float64, t_j = t_max (j + 1)/n_t."""
        return self.t_max * np.arange(1, self.n_t + 1) / self.n_t

    def param_range(self, split: str) -> tuple[float, float]:
        """The θ_1 range of ``split`` (train/valid/test: train_range)."""
        if split in ("train", "valid", "test"):
            return self.train_range
        shifts = dict(self.shifts)
        if split not in shifts:
            raise ValueError(f"split: got {split!r}, expected one of {SPLIT_NAMES}")
        return shifts[split]

    def check(self) -> None:
        """Raise ``ValueError`` unless the closed form holds on [0, t_max] for every range (the
        Stefan/advection fronts stay inside Ω)."""
        prob = get_problem(self.gpme)
        ends = np.array([v for _, r in (("t", self.train_range), *self.shifts) for v in r])
        try:
            front = prob.front(np.array(self.t_max), ends)
        except ValueError as err:
            raise ValueError(f"t_max: {self.t_max} is too long for {self.problem}: {err}") from err
        x0, x1 = prob.x_range
        if prob.shock_analysis and not bool(np.all((front >= x0) & (front <= x1))):
            raise ValueError(
                f"t_max: {self.t_max} lets the {self.problem} front leave {prob.x_range} "
                f"(fronts {front.tolist()} at the range ends {ends.tolist()})"
            )


_HEAT_SHIFTS = (("small", (5.0, 6.0)), ("medium", (6.0, 7.0)), ("large", (7.0, 8.0)))

#: The default task of each problem (module docstring).
OPERATOR_TASKS: dict[str, dict[str, Any]] = {
    "diffusion": {"train_range": (1.0, 5.0), "shifts": _HEAT_SHIFTS, "t_max": 1.0},
    "pme": {
        "train_range": (1.0, 4.0),
        "shifts": (("small", (4.0, 5.0)), ("medium", (5.0, 6.0)), ("large", (6.0, 7.0))),
        "t_max": 1.0,
    },
    "stefan": {
        "train_range": (0.55, 0.70),
        "shifts": (("small", (0.50, 0.55)), ("medium", (0.45, 0.50)), ("large", (0.40, 0.45))),
        "t_max": 0.4,
    },
    "advection": {"train_range": (1.0, 5.0), "shifts": _HEAT_SHIFTS, "t_max": 0.06},
    # Stefan on the ProbConserv-ANP setting (t ∈ [0, 0.1], 201 x points, t* = 0.05 on the grid
    # t_j = 0.01 (j + 1) of n_t = 10): for the comparison with the quick ANP (docs/results/opc.md).
    "stefan_anp": {
        "train_range": (0.55, 0.70),
        "shifts": (("small", (0.50, 0.55)), ("medium", (0.45, 0.50)), ("large", (0.40, 0.45))),
        "t_max": 0.1,
        "n_x": 201,
        "n_t": 10,
        "pde": "stefan",
    },
}


def get_operator_task(problem: str, **changes: Any) -> OperatorTask:
    """The default :class:`OperatorTask` of ``problem`` with ``changes`` (e.g. ``n_x=32``)."""
    if problem not in OPERATOR_TASKS:
        raise ValueError(f"problem: got {problem!r}, expected one of {sorted(OPERATOR_TASKS)}")
    return OperatorTask(problem=problem, **{**OPERATOR_TASKS[problem], **changes})


@dataclass(frozen=True, eq=False)
class OperatorSplit(Dataset[dict[str, Tensor]]):
    """One split: ``a (N, C_in, n_x, n_t)`` float32, ``u (N, 1, n_x, n_t)`` float32 and float64
    (``u64``), ``b (N, n_t)`` float64, ``params (N, P)`` float64, grids ``x (n_x,)``,
    ``t (n_t,)`` float64."""

    name: str
    a: Tensor
    u: Tensor
    u64: Tensor = field(repr=False)
    b: Tensor = field(repr=False)
    params: Tensor = field(repr=False)
    x: Tensor = field(repr=False)
    t: Tensor = field(repr=False)

    def __len__(self) -> int:
        return int(self.a.shape[0])

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        """Training sample ``{"a": (C_in, n_x, n_t), "y": (1, n_x, n_t), "b": (n_t,)}``."""
        return {"a": self.a[i], "y": self.u[i], "b": self.b[i]}


def make_operator_split(task: OperatorTask, split: str, n: int, seed: int = 0) -> OperatorSplit:
    """``n`` samples of ``split`` with θ_1 ~ U(task.param_range(split)), generator
    ``numpy.random.default_rng([seed, index of split])``."""
    if n < 1:
        raise ValueError(f"n: expected >= 1 samples, got {n}")
    lo, hi = task.param_range(split)
    rng = np.random.default_rng([seed, SPLIT_NAMES.index(split)])
    theta = rng.uniform(lo, hi, size=n)
    phase = rng.uniform(*task.phase_range, size=n) if task.varies_phase else None
    return operator_split_at(task, theta, split, phase)


def operator_split_at(
    task: OperatorTask, theta: Any, name: str = "fixed", phase: Any = None
) -> OperatorSplit:
    """The samples of the given parameters ``theta (N,)`` (and heat phases ``phase (N,)`` when
    the task varies the phase; else its fixed phase), e.g. the ProbConserv test values
    u* ∈ {0.5, 0.6}; ``ValueError`` for a parameter the closed form refuses."""
    theta = np.asarray(theta, dtype=np.float64).reshape(-1)
    n = theta.size
    if n < 1:
        raise ValueError("theta: expected at least one parameter value, got none")
    if (phase is None) == task.varies_phase:
        raise ValueError(
            f"phase: expected {'one phase per theta' if task.varies_phase else 'None'} for "
            f"phase_range {task.phase_range}, got {phase!r}"
        )
    if phase is not None:
        phase = np.asarray(phase, dtype=np.float64).reshape(-1)
    x, t = task.x_grid(), task.t_grid()
    tt, xx = t[None, None, :], x[None, :, None]
    p = theta[:, None, None]
    if task.gpme == "diffusion":
        phases = np.full(n, task.phase_range[0]) if phase is None else phase
        u = np.stack(
            [
                Diffusion(theta=float(ph)).solution(tt[0], xx[0], k)
                for ph, k in zip(phases, theta, strict=True)
            ]
        )
        b = np.stack(
            [Diffusion(theta=float(ph)).mass(t, k) for ph, k in zip(phases, theta, strict=True)]
        )
    else:
        prob = get_problem(task.gpme)
        u = prob.solution(tt, xx, p)
        b = prob.mass(t[None, :], theta[:, None])
    params = theta[:, None] if phase is None else np.stack([theta, phase], axis=1)
    x0, x1 = task.x_range
    coords = np.stack(
        np.broadcast_arrays((xx[0] - x0) / (x1 - x0), tt[0] / task.t_max), axis=0
    )  # (2, n_x, n_t)
    chans = np.broadcast_to(params[:, :, None, None], (n, params.shape[1], task.n_x, task.n_t))
    a = np.concatenate([chans, np.broadcast_to(coords, (n, 2, task.n_x, task.n_t))], axis=1)
    u64 = torch.as_tensor(np.ascontiguousarray(u), dtype=torch.float64).unsqueeze(1)
    return OperatorSplit(
        name=name,
        a=torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32),
        u=u64.to(torch.float32),
        u64=u64,
        b=torch.as_tensor(b, dtype=torch.float64),
        params=torch.as_tensor(params, dtype=torch.float64),
        x=torch.as_tensor(x),
        t=torch.as_tensor(t),
    )
