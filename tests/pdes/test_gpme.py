"""Closed forms of the ProbConserv problems: masses, PDE residuals, Stefan constants, validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize, stats
from scipy.special import erf

from pcml.pdes.gpme import (
    PROBLEMS,
    Burgers,
    ConservationProblem,
    Diffusion,
    LinearAdvection,
    PorousMedium,
    Stefan,
    _stefan_z1_cached,
    get_problem,
    stefan_constants,
)

EPS = np.finfo(np.float64).eps


def assert_ulp_close(actual: np.ndarray, expected: np.ndarray, ulps: float = 4.0) -> None:
    """Equal to a few ulp (relative to each value and to the array's scale): the vectorised and
    the scalar numpy paths of ``pow``/``exp``/``erf`` differ by an ulp on AVX-512 vs AVX2
    dispatch, so results computed along different paths are never compared bitwise."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = float(np.max(np.abs(expected), initial=0.0))
    np.testing.assert_allclose(actual, expected, rtol=ulps * EPS, atol=ulps * EPS * scale)


def assert_table_value(value: float, printed: float, decimals: int) -> None:
    """``printed`` is ``value`` rounded to ``decimals`` places: |value − printed| ≤ ½·10^−d (plus
    an ulp), which does not flip at ties the way ``round(value, d) == printed`` does."""
    assert abs(value - printed) <= 0.5 * 10.0**-decimals * (1 + 1e-9), (value, printed, decimals)


# Reference §5.2 Stefan table: u*, z1, alpha, c1, x*(0.05), b(0.05), b(0.1), 1/alpha^2.
STEFAN_TABLE = [
    (0.50, 0.6201, 1.2401, 0.8072, 0.2773, 0.2037, 0.2880, 0.650),
    (0.55, 0.5721, 1.1443, 0.7738, 0.2559, 0.1952, 0.2761, 0.764),
    (0.60, 0.5257, 1.0513, 0.7370, 0.2351, 0.1859, 0.2630, 0.905),
    (0.65, 0.4800, 0.9599, 0.6962, 0.2146, 0.1757, 0.2484, 1.085),
    (0.70, 0.4344, 0.8687, 0.6508, 0.1942, 0.1642, 0.2322, 1.325),
]


def _cases() -> list[tuple[str, float, float]]:
    """(problem, param, t) covering every regime: before/after Burgers breaking and shock exit."""
    out = []
    for name in PROBLEMS:
        prob = get_problem(name)
        params = sorted({*prob.train_range, *prob.test_values})
        t0, t1 = prob.t_range
        for p in params:
            for frac in (0.0, 0.13, 0.5, 0.77, 1.0):
                out.append((name, p, t0 + frac * (t1 - t0)))
    out += [("burgers", 4.0, 0.9), ("burgers", 2.0, 0.4), ("advection", 5.0, 0.3)]
    out += [("pme", 2.5, 1.4), ("pme", 0.5, 0.3)]
    return out


def _kinks(name: str, p: float, t: float) -> list[float]:
    """Where u or its derivative jumps, derived here independently of the module."""
    if name == "pme":
        return [t]
    if name == "stefan":
        z1 = optimize.brentq(
            lambda z: p * erf(z) * z * np.exp(z * z) - (1 - p) / np.sqrt(np.pi), 1e-9, 10.0
        )
        return [2 * z1 * np.sqrt(t)]
    if name == "advection":
        return [0.5 + p * t]
    if name == "burgers":
        return [p * t - 1.0, 0.0] if p * t < 1 else [(p * t - 1) / 2]
    return []


@pytest.mark.parametrize(("name", "p", "t"), _cases())
def test_mass_equals_quadrature_of_solution(name: str, p: float, t: float) -> None:
    prob = get_problem(name)
    x0, x1 = prob.x_range
    pts = sorted(k for k in _kinks(name, p, t) if x0 < k < x1)
    edges = [x0, *pts, x1]
    quad = 0.0
    for a, b in itertools.pairwise(edges):
        val, _ = integrate.quad(
            lambda x: float(prob.solution(t, x, p)), a, b, epsabs=1e-13, epsrel=1e-12, limit=200
        )
        quad += val
    mass = float(prob.mass(t, p))
    assert mass == pytest.approx(quad, rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("row", STEFAN_TABLE, ids=lambda r: f"u*={r[0]}")
def test_stefan_constants_match_reference_table(row: tuple[float, ...]) -> None:
    u_star, z1, alpha, c1, front, b05, b10, t_exit = row
    z, a, c = (float(v) for v in stefan_constants(u_star))
    s = Stefan()
    for value, printed in ((z, z1), (a, alpha), (c, c1)):
        assert_table_value(value, printed, 4)
    assert_table_value(float(s.front(0.05, u_star)), front, 4)
    assert_table_value(float(s.mass(0.05, u_star)), b05, 4)
    assert_table_value(float(s.mass(0.1, u_star)), b10, 4)
    assert_table_value(1.0 / a**2, t_exit, 3)


def test_stefan_constants_solve_the_transcendental_equation() -> None:
    u = np.linspace(0.05, 0.95, 19)
    z1, alpha, c1 = stefan_constants(u)
    lhs = u * erf(z1) * z1 * np.exp(z1**2)
    np.testing.assert_allclose(lhs, (1 - u) / np.sqrt(np.pi), rtol=1e-14)
    ref = [
        optimize.brentq(
            lambda z, v=v: v * erf(z) * z * np.exp(z * z) - (1 - v) / np.sqrt(np.pi),
            1e-12,
            10.0,
            xtol=1e-15,
        )
        for v in u
    ]
    np.testing.assert_allclose(z1, ref, rtol=1e-13)
    np.testing.assert_allclose(alpha, 2 * z1)
    np.testing.assert_allclose(c1 * erf(alpha / 2), 1 - u, rtol=1e-14)
    # the cached few-values (scalar numpy) path agrees with the vectorised path to a few ulp
    # (not bitwise: erf/exp dispatch differently; the cache is cleared so the order of earlier
    # tests cannot decide which path filled it)
    _stefan_z1_cached.cache_clear()
    few = np.concatenate([stefan_constants(v)[0] for v in np.array_split(u, 5)])
    assert_ulp_close(few, z1)
    # the solution is continuous with value u* just behind the front
    s = Stefan()
    front = s.front(0.05, u)
    np.testing.assert_allclose(s.solution(0.05, front, u), u, rtol=1e-12)
    np.testing.assert_array_equal(s.solution(0.05, np.minimum(front + 1e-9, 1.0), u), 0.0)


def test_pme_mass_reference_values() -> None:
    b = PorousMedium().mass(0.5, np.array([1.0, 3.0, 6.0]))
    np.testing.assert_allclose(b, [0.12500, 0.42927, 0.51469], atol=5e-6)
    m = np.linspace(1, 6, 11)
    t = 0.7
    np.testing.assert_allclose(
        PorousMedium().mass(t, m), m ** (1 + 1 / m) * t ** (1 + 1 / m) / (m + 1), rtol=1e-13
    )


def test_burgers_mass_is_capped_after_the_shock_leaves() -> None:
    # defect 12.13: (a/2)(1 + a t) keeps growing; the solution is u = a on all of [-1, 1].
    b = Burgers()
    t = np.array([0.5, 0.75, 0.9, 1.0])
    np.testing.assert_allclose(b.mass(t, 4.0), np.minimum(2.0 * (1 + 4 * t), 8.0))
    np.testing.assert_array_equal(b.solution(0.9, np.linspace(-1, 1, 5), 4.0), 4.0)
    np.testing.assert_allclose(b.mass(0.5, np.array([1.0, 3.0])), [0.75, 3.75])


# ---- finite-difference PDE residuals of the closed forms, away from fronts ----------------------


def _fd_residual(name: str, p: float, t: np.ndarray, x: np.ndarray, h: float) -> np.ndarray:
    """Second-order central residual of the PDE written here independently of the module."""
    u = lambda tt, xx: get_problem(name).solution(tt, xx, p)  # noqa: E731
    ut = (u(t + h, x) - u(t - h, x)) / (2 * h)
    um, u0, up = u(t, x - h), u(t, x), u(t, x + h)
    if name == "burgers":
        return ut + u0 * (up - um) / (2 * h)
    k = {
        "diffusion": lambda v: p + 0 * v,
        "pme": lambda v: v**p,
        "stefan": lambda v: (v >= p).astype(float),
    }[name]
    kp, km = (k(u0) + k(up)) / 2, (k(u0) + k(um)) / 2
    return ut - (kp * (up - u0) - km * (u0 - um)) / h**2


SMOOTH_REGIONS = {
    # name: (param, t-interval, x-interval as function of t) strictly inside smooth parts
    "diffusion": (5.0, (0.1, 0.9), lambda t: (0.2, 6.0)),
    "pme": (3.0, (0.4, 0.9), lambda t: (0.05, t - 0.2)),
    "stefan": (0.6, (0.02, 0.09), lambda t: (0.02, 0.7 * 1.0513 * np.sqrt(t))),
    "burgers": (1.5, (0.1, 0.5), lambda t: (1.5 * t - 1 + 0.1, -0.1)),
}


@pytest.mark.parametrize("name", list(SMOOTH_REGIONS))
def test_fd_residual_vanishes_with_second_order(name: str) -> None:
    p, (ta, tb), xr = SMOOTH_REGIONS[name]
    rng = np.random.default_rng(1)
    t = rng.uniform(ta, tb, 40)
    lo, hi = xr(t)
    x = lo + rng.uniform(0, 1, 40) * (hi - lo)
    hs = np.array([2e-3, 1e-3, 5e-4, 2.5e-4])
    err = np.array([np.max(np.abs(_fd_residual(name, p, t, x, h))) for h in hs])
    u = get_problem(name).solution
    scale = np.max(np.abs(u(t + 1e-6, x, p) - u(t - 1e-6, x, p))) / 2e-6  # max |u_t|
    assert err[-1] < 1e-4 * scale, (err, scale)
    fit = stats.linregress(np.log(hs), np.log(err))
    assert 1.8 < fit.slope < 2.2, (fit.slope, err)


def test_hyperbolic_solutions_are_constant_along_characteristics() -> None:
    rng = np.random.default_rng(2)
    adv, a = LinearAdvection(), 3.0
    x = rng.uniform(0, 0.5, 50)
    t = rng.uniform(0, 0.15, 50)
    x0 = x - a * t
    inside = (x0 >= 0) & (x0 != 0.5)
    np.testing.assert_array_equal(
        adv.solution(t[inside], x[inside], a), adv.solution(0.0, x0[inside], a)
    )
    bur, a = Burgers(), 2.0
    x0 = rng.uniform(-1, 0.5, 50)
    t = rng.uniform(0, 0.49, 50)  # before breaking at 1/a
    u0 = bur.solution(0.0, x0, a)
    x = x0 + u0 * t
    ok = x <= 1.0
    np.testing.assert_allclose(bur.solution(t[ok], x[ok], a), u0[ok], rtol=1e-12, atol=1e-12)


def _boundary_flux_balance(name: str, p: float, t: float) -> tuple[float, float]:
    """(db/dt by central differences, F(x0) − F(x1) from the solution) — the integral form."""
    prob = get_problem(name)
    x0, x1 = prob.x_range
    h = 1e-5 * max(t, 1e-2)
    dbdt = float(prob.mass(t + h, p) - prob.mass(t - h, p)) / (2 * h)
    g = 1e-6
    u = lambda xx: float(prob.solution(t, xx, p))  # noqa: E731
    ux_left = (-3 * u(x0) + 4 * u(x0 + g) - u(x0 + 2 * g)) / (2 * g)
    ux_right = (3 * u(x1) - 4 * u(x1 - g) + u(x1 - 2 * g)) / (2 * g)
    flux = {
        "diffusion": lambda v, vx: -p * vx,
        "pme": lambda v, vx: -(v**p) * vx,
        "stefan": lambda v, vx: -float(v >= p) * vx,
        "advection": lambda v, vx: p * v,
        "burgers": lambda v, vx: v * v / 2,
    }[name]
    return dbdt, flux(u(x0), ux_left) - flux(u(x1), ux_right)


@pytest.mark.parametrize(
    ("name", "p", "t"),
    [
        ("diffusion", 2.0, 0.3),
        ("pme", 2.0, 0.5),
        ("pme", 1.0, 0.6),
        ("stefan", 0.6, 0.05),
        ("stefan", 0.5, 0.09),
        ("advection", 3.0, 0.1),
        ("advection", 4.0, 0.2),
        ("burgers", 1.0, 0.5),
        ("burgers", 3.0, 0.5),
        ("burgers", 4.0, 0.9),
    ],
)
def test_mass_rate_equals_boundary_flux(name: str, p: float, t: float) -> None:
    dbdt, net_flux = _boundary_flux_balance(name, p, t)
    assert dbdt == pytest.approx(net_flux, rel=1e-4, abs=1e-6)


def test_fronts() -> None:
    t = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(PorousMedium().front(t, 2.0), t)
    assert float(Stefan().front(0.05, 0.6)) == pytest.approx(0.2351, abs=5e-5)
    np.testing.assert_allclose(LinearAdvection().front(0.1, np.array([1.0, 3.0])), [0.6, 0.8])
    assert np.isnan(LinearAdvection().front(0.2, 3.0))
    np.testing.assert_allclose(Burgers().front(0.5, 3.0), 0.25)
    assert np.isnan(Burgers().front(0.5, 1.0)) and np.isnan(Burgers().front(0.9, 4.0))
    assert np.all(np.isnan(Diffusion().front(t, 1.0)))
    for name in ("pme", "stefan", "advection"):
        prob = get_problem(name)
        for p in prob.test_values:
            xf = float(prob.front(prob.t_star, p))
            assert float(prob.solution(prob.t_star, xf - 1e-6, p)) > 0.0
            assert float(prob.solution(prob.t_star, xf + 1e-6, p)) == 0.0


@settings(max_examples=15)
@given(
    shape_t=st.lists(st.integers(1, 3), min_size=0, max_size=3),
    name=st.sampled_from(sorted(PROBLEMS)),
)
def test_broadcasting_and_dtype(shape_t: list[int], name: str) -> None:
    prob = get_problem(name)
    rng = np.random.default_rng(len(shape_t))
    t = rng.uniform(*prob.t_range, size=(*shape_t, 1))
    x = rng.uniform(*prob.x_range, size=(4,))
    p = rng.uniform(*prob.train_range, size=(*shape_t, 1))
    u = prob.solution(t, x, p)
    assert u.shape == (*shape_t, 4) and u.dtype == np.float64
    ref = np.vectorize(lambda tt, xx, pp: float(prob.solution(tt, xx, pp)))(t, x, p)
    assert_ulp_close(u, ref)  # vectorised vs scalar pow/exp: an ulp apart on AVX-512
    assert prob.mass(t[..., 0], p[..., 0]).shape == tuple(shape_t)
    assert prob.front(t, p).shape == (*shape_t, 1)


def test_diffusion_is_the_closed_form() -> None:
    rng = np.random.default_rng(3)
    t, x, c = rng.uniform(0, 1, 100), rng.uniform(0, 2 * np.pi, 100), rng.uniform(1, 5, 100)
    np.testing.assert_allclose(
        Diffusion().solution(t, x, c), np.sin(x) * np.exp(-c * t), rtol=1e-15, atol=1e-16
    )


def test_registry_and_settings() -> None:
    assert sorted(PROBLEMS) == ["advection", "burgers", "diffusion", "pme", "stefan"]
    for name, cls in PROBLEMS.items():
        prob = get_problem(name)
        assert isinstance(prob, cls) and isinstance(prob, ConservationProblem)
        assert prob.t_range[0] <= prob.t_star <= prob.t_range[1]
    assert Stefan().t_range == (0.0, 0.1) and Stefan().param_name == "u_star"
    assert PorousMedium().test_values == (1.0, 3.0, 6.0)
    with pytest.raises(ValueError, match="unknown problem name 'heat'"):
        get_problem("heat")


def test_bad_input_raises() -> None:
    s, p = Stefan(), PorousMedium()
    with pytest.raises(ValueError, match="x must lie in x_range"):
        p.solution(0.5, 1.5, 2.0)
    with pytest.raises(ValueError, match="t must be >= 0"):
        p.solution(-0.1, 0.5, 2.0)
    with pytest.raises(ValueError, match="t must be finite"):
        p.mass(np.nan, 2.0)
    with pytest.raises(ValueError, match="must be > 0"):
        p.solution(0.5, 0.5, -1.0)
    with pytest.raises(ValueError, match=r"must lie in \(0, 1\)"):
        s.solution(0.05, 0.1, 1.2)
    with pytest.raises(ValueError, match="Stefan front leaves"):
        s.mass(0.7, 0.5)
    with pytest.raises(ValueError, match="t_star must lie in t_range"):
        Stefan(t_star=0.5)
    with pytest.raises(ValueError, match="train_range must satisfy"):
        Burgers(train_range=(3.0, 1.0))
    with pytest.raises(ValueError, match="Stefan front leaves"):
        Stefan(t_range=(0.0, 1.0))
