"""The ProbConserv benchmark family: closed-form solutions u(t, x; θ) and masses b(t) = ∫_Ω u dx.

Generalised porous medium equation (GPME) u_t − ∂_x(k(u) ∂_x u) = 0 with

- ``Diffusion``     k = c                     u = sin(x + θ₀) e^{−ct}           on [0, 2π], periodic
- ``PorousMedium``  k = u^m                   u = (m (t − x)_+)^{1/m}           on [0, 1]
- ``Stefan``        k = 1[u ≥ u*] (k_max = 1) u = 1 − c₁ erf(x / 2√t), x ≤ α√t  on [0, 1]

and two hyperbolic conservation laws u_t + ∂_x F(u) = 0:

- ``LinearAdvection`` F = a u      u = 1[x − a t ≤ 0.5]                      on [0, 1]
- ``Burgers``         F = u²/2     compressive ramp u₀ = a, −a x, 0          on [−1, 1]

Every problem is a small frozen dataclass with the same interface (``ConservationProblem``):
``solution(t, x, param)``, ``mass(t, param)``, ``front(t, param)`` broadcast their numpy arguments
together and return float64 arrays. Bad input (non-finite values, t < 0, x outside the domain, a
parameter outside its admissible set, a time where the closed form stops describing the problem on
Ω) raises ``ValueError`` naming the argument.

Differences from the original ``deep_pdes`` code, on purpose:

- diffusion data is the closed form evaluated directly; the original interpolated a spectral
  solution with a mis-scaled grid (reference defect 12.3);
- the Burgers mass is min((a/2)(1 + a t), 2a): the original (a/2)(1 + a t) keeps growing after the
  shock has left x = 1 at t = 3/a (defect 12.13);
- all masses are the exact integrals of the returned solution over Ω (tested against quadrature).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import erf

__all__ = [
    "PROBLEMS",
    "Bounds",
    "Burgers",
    "ConservationProblem",
    "Diffusion",
    "LinearAdvection",
    "PorousMedium",
    "Stefan",
    "get_problem",
    "stefan_constants",
]

F64 = NDArray[np.float64]


def _as_f64(name: str, value: ArrayLike) -> F64:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got shape {arr.shape} with non-finite entries")
    return arr


_BISECTION_STEPS = 64  # 10 / 2**64 is below one ulp of z₁ ≳ 0.1
_SCALAR_PATH_MAX = 8  # up to this many distinct u*, solve each once and cache it


def _stefan_lhs(z: F64, u_star: F64) -> F64:
    return u_star * erf(z) * z * np.exp(z * z) - (1.0 - u_star) / np.sqrt(np.pi)


def _stefan_z1_bisect(u_star: F64) -> F64:
    lo = np.zeros_like(u_star)
    hi = np.full_like(u_star, 10.0)
    for _ in range(_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        pos = _stefan_lhs(mid, u_star) > 0.0
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    return 0.5 * (lo + hi)


@functools.lru_cache(maxsize=256)
def _stefan_z1_cached(u_star: float) -> float:
    return float(_stefan_z1_bisect(np.array(u_star)))


def stefan_constants(u_star: ArrayLike) -> tuple[F64, F64, F64]:
    """(z₁, α, c₁) of the one-phase Stefan solution, elementwise in ``u_star`` ∈ (0, 1).

    z₁ is the unique root in (0, 10) of f(z) = u* erf(z) z e^{z²} − (1 − u*)/√π (f is increasing,
    f(0) < 0), found by vectorised bisection to machine precision (cached per value when there are
    few distinct u*); α = 2 z₁ and c₁ = (1 − u*)/erf(α/2).
    """
    p = _as_f64("u_star", u_star)
    if np.any((p <= 0.0) | (p >= 1.0)):
        raise ValueError(f"u_star must lie in (0, 1); got shape {p.shape}, values outside")
    uniq, inverse = np.unique(p, return_inverse=True)
    if uniq.size <= _SCALAR_PATH_MAX:
        z_uniq = np.array([_stefan_z1_cached(float(v)) for v in uniq])
    else:
        z_uniq = _stefan_z1_bisect(uniq)
    z1 = z_uniq[inverse].reshape(p.shape)
    return z1, 2.0 * z1, (1.0 - p) / erf(z1)


@dataclass(frozen=True)
class Bounds:
    """Physical bounds lower ≤ u(t, x) ≤ upper of a problem's solution (None: unbounded side).

    They hold for every admissible parameter and time (tested against the closed forms)."""

    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        if self.lower is not None and self.upper is not None and not self.lower < self.upper:
            raise ValueError(f"Bounds: need lower < upper, got ({self.lower}, {self.upper})")


@dataclass(frozen=True)
class ConservationProblem(ABC):
    """One benchmark problem: u_t + ∂_x F(u, u_x; θ) = 0 on Ω = x_range with closed form u(t, x; θ).

    Attributes: ``name`` (registry key), ``param_name`` (the scalar θ that varies per function),
    ``train_range`` (θ ~ U(train_range) for train/valid), ``test_values`` (θ for the test sets),
    ``t_range``, ``t_star`` (the analysis time), ``x_range`` (Ω, fixed by the closed form),
    ``shock_analysis`` (whether the front at t* enters the shock-position analysis),
    ``bounds`` (physical bounds of u, :class:`Bounds`) and ``inflow_dirichlet`` (whether the
    problem prescribes u(t, x_min) = ``inflow_value(t, θ)``, a second linear constraint).
    """

    name: ClassVar[str]
    param_name: ClassVar[str]
    pde: ClassVar[str]
    x_range: ClassVar[tuple[float, float]]
    shock_analysis: ClassVar[bool]
    bounds: ClassVar[Bounds] = Bounds()
    inflow_dirichlet: ClassVar[bool] = False

    train_range: tuple[float, float]
    test_values: tuple[float, ...]
    t_range: tuple[float, float]
    t_star: float

    def __post_init__(self) -> None:
        lo, hi = self.train_range
        if not lo < hi:
            raise ValueError(f"train_range must satisfy lo < hi; got {self.train_range}")
        self.check_param(np.array([lo, hi, *self.test_values]), name="train_range/test_values")
        t0, t1 = self.t_range
        if not 0.0 <= t0 < t1:
            raise ValueError(f"t_range must satisfy 0 <= t0 < t1; got {self.t_range}")
        if not t0 <= self.t_star <= t1:
            raise ValueError(f"t_star must lie in t_range {self.t_range}; got {self.t_star}")

    @property
    def domain_length(self) -> float:
        """|Ω| = x_max − x_min."""
        return self.x_range[1] - self.x_range[0]

    # -- validation ----------------------------------------------------------------------------
    def check_param(self, param: ArrayLike, name: str = "param") -> F64:
        """Return θ as float64 or raise ``ValueError`` if it is outside the admissible set."""
        p = _as_f64(name, param)
        if np.any(p <= 0.0):
            raise ValueError(
                f"{name} ({self.param_name}) must be > 0 for {self.name}; got min {p.min()}"
            )
        return p

    def _check_tx(self, t: ArrayLike, x: ArrayLike | None = None) -> tuple[F64, F64]:
        tt = _as_f64("t", t)
        if np.any(tt < 0.0):
            raise ValueError(f"t must be >= 0; got min {tt.min()} (shape {tt.shape})")
        if x is None:
            return tt, np.zeros(())
        xx = _as_f64("x", x)
        x0, x1 = self.x_range
        if np.any(xx < x0) or np.any(xx > x1):
            raise ValueError(
                f"x must lie in x_range {self.x_range} for {self.name}; "
                f"got [{xx.min()}, {xx.max()}] (shape {xx.shape})"
            )
        return tt, xx

    def check_validity(self, t: F64, param: F64) -> None:  # noqa: B027 - optional hook
        """Raise ``ValueError`` where the closed form stops describing the problem on Ω."""

    def valid_until(self, param: ArrayLike) -> F64:
        """Last time at which the closed form describes the problem on Ω (inf: always)."""
        p = self.check_param(param)
        return np.full(p.shape, np.inf)

    def inflow_value(self, t: ArrayLike, param: ArrayLike) -> F64:
        """The prescribed Dirichlet value u(t, x_min; θ) (only if ``inflow_dirichlet``)."""
        if not self.inflow_dirichlet:
            raise ValueError(f"{self.name} prescribes no Dirichlet value at x = {self.x_range[0]}")
        return self.solution(t, self.x_range[0], param)

    # -- public interface ----------------------------------------------------------------------
    def solution(self, t: ArrayLike, x: ArrayLike, param: ArrayLike) -> F64:
        """u(t, x; θ), broadcasting t, x, θ together (float64)."""
        tt, xx = self._check_tx(t, x)
        p = self.check_param(param)
        self.check_validity(tt, p)
        return np.asarray(self._solution(tt, xx, p), dtype=np.float64)

    def mass(self, t: ArrayLike, param: ArrayLike) -> F64:
        """b(t; θ) = ∫_Ω u(t, x; θ) dx, broadcasting t and θ (float64)."""
        tt, _ = self._check_tx(t)
        p = self.check_param(param)
        self.check_validity(tt, p)
        return np.asarray(self._mass(tt, p) + 0.0 * (tt + p), dtype=np.float64)

    def front(self, t: ArrayLike, param: ArrayLike) -> F64:
        """Position of the moving front/shock in Ω; NaN where there is none (float64)."""
        tt, _ = self._check_tx(t)
        p = self.check_param(param)
        self.check_validity(tt, p)
        return np.asarray(self._front(tt, p) + 0.0 * (tt + p), dtype=np.float64)

    @abstractmethod
    def _solution(self, t: F64, x: F64, p: F64) -> F64: ...

    @abstractmethod
    def _mass(self, t: F64, p: F64) -> F64: ...

    def _front(self, t: F64, p: F64) -> F64:
        return np.full(np.broadcast(t, p).shape, np.nan)


@dataclass(frozen=True)
class Diffusion(ConservationProblem):
    """Heat equation u_t = c u_xx on [0, 2π], periodic: u = sin(x + θ₀) e^{−ct}, b(t) = 0.

    ``theta`` is the phase θ₀ (0 in every configuration). The closed form is evaluated directly
    (the original interpolated an FFT solution wrongly, defect 12.3).
    """

    name: ClassVar[str] = "diffusion"
    param_name: ClassVar[str] = "c"
    pde: ClassVar[str] = "u_t = c u_xx"
    x_range: ClassVar[tuple[float, float]] = (0.0, 2.0 * np.pi)
    shock_analysis: ClassVar[bool] = False
    bounds: ClassVar[Bounds] = Bounds(-1.0, 1.0)

    train_range: tuple[float, float] = (1.0, 5.0)
    test_values: tuple[float, ...] = (1.0, 5.0)
    t_range: tuple[float, float] = (0.0, 1.0)
    t_star: float = 0.5
    theta: float = 0.0

    def _solution(self, t: F64, x: F64, p: F64) -> F64:
        return np.sin(x + self.theta) * np.exp(-p * t)

    def _mass(self, t: F64, p: F64) -> F64:
        x0, x1 = self.x_range
        return (np.cos(x0 + self.theta) - np.cos(x1 + self.theta)) * np.exp(-p * t)


@dataclass(frozen=True)
class PorousMedium(ConservationProblem):
    """Porous medium equation u_t = ∂_x(u^m u_x) on [0, 1]: u = (m (t − x)_+)^{1/m}.

    Dirichlet inflow u(t, 0) = (m t)^{1/m}; front at x = t. Mass (exact for all t ≥ 0)
    b(t) = m^{1/m} (t^{1+1/m} − (t − 1)_+^{1+1/m}) / (1 + 1/m), i.e. m^{1+1/m} t^{1+1/m}/(m+1)
    while t ≤ 1.
    """

    name: ClassVar[str] = "pme"
    param_name: ClassVar[str] = "m"
    pde: ClassVar[str] = "u_t = (u^m u_x)_x"
    x_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    shock_analysis: ClassVar[bool] = True
    bounds: ClassVar[Bounds] = Bounds(0.0, None)
    inflow_dirichlet: ClassVar[bool] = True

    train_range: tuple[float, float] = (1.0, 6.0)
    test_values: tuple[float, ...] = (1.0, 3.0, 6.0)
    t_range: tuple[float, float] = (0.0, 1.0)
    t_star: float = 0.5

    def _solution(self, t: F64, x: F64, p: F64) -> F64:
        return (p * np.maximum(t - x, 0.0)) ** (1.0 / p)

    def _mass(self, t: F64, p: F64) -> F64:
        x0, x1 = self.x_range
        e = 1.0 + 1.0 / p
        anti = np.maximum(t - x0, 0.0) ** e - np.maximum(t - x1, 0.0) ** e
        return p ** (1.0 / p) * anti / e

    def _front(self, t: F64, p: F64) -> F64:
        return np.where(t <= self.x_range[1], t + 0.0 * p, np.nan)


@dataclass(frozen=True)
class Stefan(ConservationProblem):
    """One-phase Stefan problem u_t = ∂_x(k(u) u_x), k = 1[u ≥ u*], on [0, 1], u(t, 0) = 1.

    z₁ solves u* erf(z₁) z₁ e^{z₁²} = (1 − u*)/√π, α = 2z₁, c₁ = (1 − u*)/erf(z₁) (see
    ``stefan_constants``). u = 1 − c₁ erf(x / 2√t) for x ≤ x*(t) = α√t, 0 beyond (u = 1 at x = 0
    for t = 0); b(t) = 2 c₁ √(t/π). Valid while the front is inside Ω, t ≤ 1/α²; later times raise
    ``ValueError``. Admissible u* ∈ (0, 1).
    """

    name: ClassVar[str] = "stefan"
    param_name: ClassVar[str] = "u_star"
    pde: ClassVar[str] = "u_t = (1[u >= u*] u_x)_x"
    x_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    shock_analysis: ClassVar[bool] = True
    bounds: ClassVar[Bounds] = Bounds(0.0, 1.0)
    inflow_dirichlet: ClassVar[bool] = True

    train_range: tuple[float, float] = (0.55, 0.70)
    test_values: tuple[float, ...] = (0.5, 0.6)
    t_range: tuple[float, float] = (0.0, 0.1)
    t_star: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        params = np.array([*self.train_range, *self.test_values])
        self.check_validity(np.array(self.t_range[1]), params)

    def check_param(self, param: ArrayLike, name: str = "param") -> F64:
        p = _as_f64(name, param)
        if np.any((p <= 0.0) | (p >= 1.0)):
            raise ValueError(f"{name} (u_star) must lie in (0, 1); got [{p.min()}, {p.max()}]")
        return p

    def check_validity(self, t: F64, param: F64) -> None:
        _, alpha, _ = stefan_constants(param)
        front = alpha * np.sqrt(t)
        if np.any(front > self.x_range[1]):
            t_exit = 1.0 / alpha**2 + 0.0 * t
            bad = front > self.x_range[1]
            raise ValueError(
                "t is past the time 1/alpha^2 at which the Stefan front leaves [0, 1] "
                f"(t = {np.broadcast_to(t, bad.shape)[bad].max()}, "
                f"exit time {np.broadcast_to(t_exit, bad.shape)[bad].min():.4f})"
            )

    def valid_until(self, param: ArrayLike) -> F64:
        """1/α²: the front α√t reaches x = 1."""
        _, alpha, _ = stefan_constants(self.check_param(param))
        return np.asarray(1.0 / alpha**2, dtype=np.float64)

    def _solution(self, t: F64, x: F64, p: F64) -> F64:
        _, alpha, c1 = stefan_constants(p)
        t_safe = np.where(t > 0.0, t, 1.0)
        eta = np.where(t > 0.0, x / (2.0 * np.sqrt(t_safe)), np.where(x > 0.0, np.inf, 0.0))
        return np.where(x <= alpha * np.sqrt(t), 1.0 - c1 * erf(eta), 0.0)

    def _mass(self, t: F64, p: F64) -> F64:
        _, _, c1 = stefan_constants(p)
        return 2.0 * c1 * np.sqrt(t / np.pi)

    def _front(self, t: F64, p: F64) -> F64:
        _, alpha, _ = stefan_constants(p)
        return alpha * np.sqrt(t)


@dataclass(frozen=True)
class LinearAdvection(ConservationProblem):
    """Linear advection u_t + a u_x = 0 on [0, 1] with inflow u(t, 0) = 1: u = 1[x − a t ≤ x_jump].

    Front at x_jump + a t (x_jump = 0.5); b(t) = clip(x_jump + a t, 0, 1) = 0.5 + min(a t, 0.5).
    """

    name: ClassVar[str] = "advection"
    param_name: ClassVar[str] = "a"
    pde: ClassVar[str] = "u_t + a u_x = 0"
    x_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    shock_analysis: ClassVar[bool] = True
    bounds: ClassVar[Bounds] = Bounds(0.0, 1.0)
    inflow_dirichlet: ClassVar[bool] = True

    train_range: tuple[float, float] = (1.0, 5.0)
    test_values: tuple[float, ...] = (1.0, 3.0)
    t_range: tuple[float, float] = (0.0, 1.0)
    t_star: float = 0.1
    x_jump: float = 0.5

    def _solution(self, t: F64, x: F64, p: F64) -> F64:
        return np.where(x - p * t <= self.x_jump, 1.0, 0.0)

    def _mass(self, t: F64, p: F64) -> F64:
        x0, x1 = self.x_range
        return np.clip(self.x_jump + p * t, x0, x1) - x0

    def _front(self, t: F64, p: F64) -> F64:
        s = self.x_jump + p * t
        return np.where(s <= self.x_range[1], s, np.nan)


@dataclass(frozen=True)
class Burgers(ConservationProblem):
    """Inviscid Burgers u_t + (u²/2)_x = 0 on [−1, 1], ramp u₀ = a | −a x | 0 on x ≤ −1 | ≤ 0 | > 0.

    Before breaking (t < 1/a): u = a for x ≤ a t − 1, a x / (a t − 1) on (a t − 1, 0], 0 beyond.
    After breaking: shock at x_s = (a t − 1)/2, u = a behind it, 0 ahead; the shock leaves x = 1 at
    t = 3/a. Mass b(t) = min((a/2)(1 + a t), 2a); the original's (a/2)(1 + a t) is wrong after
    t = 3/a (defect 12.13). ``front`` is the shock position while the shock is inside Ω (NaN
    otherwise); Burgers is excluded from the shock analysis, as in the article.
    """

    name: ClassVar[str] = "burgers"
    param_name: ClassVar[str] = "a"
    pde: ClassVar[str] = "u_t + (u^2/2)_x = 0"
    x_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    shock_analysis: ClassVar[bool] = False
    bounds: ClassVar[Bounds] = Bounds(0.0, None)
    inflow_dirichlet: ClassVar[bool] = True

    train_range: tuple[float, float] = (1.0, 4.0)
    test_values: tuple[float, ...] = (1.0, 3.0)
    t_range: tuple[float, float] = (0.0, 1.0)
    t_star: float = 0.5

    def _solution(self, t: F64, x: F64, p: F64) -> F64:
        at1 = p * t - 1.0
        before = at1 < 0.0
        ramp = p * x / np.where(before, at1, -1.0)
        u_before = np.where(x <= at1, p, np.where(x <= 0.0, ramp, 0.0))
        u_after = np.where(x <= 0.5 * at1, p, 0.0)
        return np.where(before, u_before, u_after)

    def _mass(self, t: F64, p: F64) -> F64:
        return np.minimum(0.5 * p * (1.0 + p * t), 2.0 * p)

    def _front(self, t: F64, p: F64) -> F64:
        xs = 0.5 * (p * t - 1.0)
        return np.where((xs >= 0.0) & (xs <= self.x_range[1]), xs, np.nan)


PROBLEMS: dict[str, Callable[[], ConservationProblem]] = {
    cls.name: cls for cls in (Diffusion, PorousMedium, Stefan, LinearAdvection, Burgers)
}


def get_problem(name: str) -> ConservationProblem:
    """The problem registered under ``name`` ("diffusion", "pme", "stefan", "advection",
    "burgers") with the article's settings (reference §5.1)."""
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem name {name!r}; expected one of {sorted(PROBLEMS)}")
    return PROBLEMS[name]()
