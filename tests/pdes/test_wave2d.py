"""2-D Neumann wave equation: cosine series vs a dense loop, PDE residual order, walls, energy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import linregress

from pcml.pdes.wave2d import (
    build_wave2d_dataset,
    wave2d_energy,
    wave2d_frequencies,
    wave2d_solution,
)


def _coeffs(seed: int, batch: int, k: int, rest: bool = False) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    j = np.arange(k)
    env = 1.0 / (1.0 + j[:, None] ** 2 + j[None, :] ** 2)
    env[0, 0] = 0.0
    c = rng.uniform(0.5, 2.0, batch)
    a = rng.standard_normal((batch, k, k)) * env
    b = np.zeros_like(a) if rest else rng.standard_normal((batch, k, k)) * env * 3.0
    return a, b, c


@settings(max_examples=25)
@given(
    batch=st.integers(1, 3),
    k=st.integers(2, 5),
    nx=st.integers(2, 6),
    ny=st.integers(2, 6),
    seed=st.integers(0, 2**16),
)
def test_solution_matches_dense_loop(batch: int, k: int, nx: int, ny: int, seed: int) -> None:
    a, b, c = _coeffs(seed, batch, k)
    rng = np.random.default_rng(seed + 1)
    x, y, t = rng.uniform(0, 1, nx), rng.uniform(0, 1, ny), rng.uniform(0, 2, 3)
    got = wave2d_solution(a, b, c, x, y, t)
    ref = np.zeros_like(got)
    for s in range(batch):
        for j in range(k):
            for m in range(k):
                w = c[s] * np.pi * np.hypot(j, m)
                if w == 0:
                    continue
                q = a[s, j, m] * np.cos(w * t) + b[s, j, m] / w * np.sin(w * t)
                shape = np.outer(np.cos(j * np.pi * x), np.cos(m * np.pi * y))
                ref[s] += q[:, None, None] * shape[None]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    # time derivatives against central differences in t (exact formula vs numerics)
    eps = 1e-4
    ut = wave2d_solution(a, b, c, x, y, t, derivative=1)
    fd = (wave2d_solution(a, b, c, x, y, t + eps) - wave2d_solution(a, b, c, x, y, t - eps)) / (
        2 * eps
    )
    np.testing.assert_allclose(ut, fd, atol=1e-5 * (1 + np.abs(ut).max()))


def test_pde_residual_second_order() -> None:
    """r = D_tt u − c² Δ_h u (centred, τ = h/2) at interior nodes decays like h²."""
    a, b, c = _coeffs(1, 2, 6)
    hs, res = [], []
    for n in (32, 64, 128, 256):
        h = 1.0 / n
        x = np.linspace(0, 1, n + 1)
        t0, tau = 0.37, h / 2
        u = wave2d_solution(a, b, c, x, x, [t0 - tau, t0, t0 + tau])
        utt = (u[:, 2] - 2 * u[:, 1] + u[:, 0]) / tau**2
        lap = (
            u[:, 1, 2:, 1:-1] + u[:, 1, :-2, 1:-1] + u[:, 1, 1:-1, 2:] + u[:, 1, 1:-1, :-2]
        ) - 4 * u[:, 1, 1:-1, 1:-1]
        r = utt[:, 1:-1, 1:-1] - c[:, None, None] ** 2 * lap / h**2
        hs.append(h)
        res.append(np.abs(r).max() / np.abs(utt).max())
    fit = linregress(np.log(hs), np.log(res))
    assert fit.slope == pytest.approx(2.0, abs=0.1), (fit.slope, res)
    # and the exact second time derivative satisfies the PDE up to the Laplacian's truncation
    x = np.linspace(0, 1, 257)
    utt_exact = wave2d_solution(a, b, c, x, x, [0.37], derivative=2)[:, 0]
    assert np.abs(utt_exact - utt).max() < 1e-3 * np.abs(utt_exact).max()  # O(τ²) ≈ 2.5e−4


# one-sided first-derivative stencils at the lower wall, formal order p: (coefficients, p)
_ONE_SIDED = {
    2: (np.array([-3.0, 4.0, -1.0]) / 2, 2),
    4: (np.array([-25, 48, -36, 16, -3]) / 12, 4),
}


@pytest.mark.parametrize("order", [2, 4])
def test_neumann_walls_vanish_with_order(order: int) -> None:
    """One-sided ∂u/∂n on all four walls → 0 at (at least) the stencil's order."""
    a, b, c = _coeffs(2, 2, 6)
    w, p = _ONE_SIDED[order]
    m = len(w)
    hs, errs = [], []
    for n in (16, 32, 64, 128):
        x = np.linspace(0, 1, n + 1)
        u = wave2d_solution(a, b, c, x, x, [0.0, 0.6])
        faces = [
            np.einsum("s,btsy->bty", w, u[:, :, :m]),
            np.einsum("s,btsy->bty", w, u[:, :, ::-1][:, :, :m]),
            np.einsum("s,btxs->btx", w, u[..., :m]),
            np.einsum("s,btxs->btx", w, u[..., ::-1][..., :m]),
        ]
        hs.append(1.0 / n)
        errs.append(max(np.abs(f).max() * n for f in faces) / np.abs(u).max())
    fit = linregress(np.log(hs), np.log(errs))
    assert fit.slope > p - 0.15, (fit.slope, errs)


def test_energy_conserved() -> None:
    """E_h(t) (trapezoid, exact u_t, centred ∇u) → closed-form E at every t, order 2."""
    a, b, c = _coeffs(3, 2, 5)
    e_exact = wave2d_energy(a, b, c)
    t = np.array([0.0, 0.3, 0.9, 1.7])
    hs, errs = [], []
    for n in (16, 32, 64, 128):
        x = np.linspace(0, 1, n + 1)
        u = wave2d_solution(a, b, c, x, x, t)
        ut = wave2d_solution(a, b, c, x, x, t, derivative=1)
        ux = np.gradient(u, x, axis=2, edge_order=2)
        uy = np.gradient(u, x, axis=3, edge_order=2)
        dens = 0.5 * (ut**2 + c[:, None, None, None] ** 2 * (ux**2 + uy**2))
        e_h = np.trapezoid(np.trapezoid(dens, x, axis=-1), x, axis=-1)  # (B, T)
        hs.append(1.0 / n)
        errs.append(np.abs(e_h / e_exact[:, None] - 1).max())
    fit = linregress(np.log(hs), np.log(errs))
    assert fit.slope == pytest.approx(2.0, abs=0.2), (fit.slope, errs)
    assert errs[-1] < 1e-3


def test_frequencies_and_bad_input() -> None:
    om = wave2d_frequencies([2.0], 3)
    assert om[0, 1, 2] == pytest.approx(2 * np.pi * np.sqrt(5))
    a, b, c = _coeffs(0, 1, 3)
    with pytest.raises(ValueError, match="derivative"):
        wave2d_solution(a, b, c, [0.0], [0.0], [0.0], derivative=3)
    bad = a.copy()
    bad[0, 0, 0] = 1.0
    with pytest.raises(ValueError, match=r"\(0, 0\) mode"):
        wave2d_energy(bad, b, c)
    with pytest.raises(ValueError, match="c must be positive"):
        wave2d_energy(a, b, -c)


def test_dataset_layout_and_exactness() -> None:
    data = build_wave2d_dataset(3, 16, n_frames=5, seed=4, c_range=(0.8, 1.2))
    assert data.fields["u"].shape == (3, 6, 17, 17) and data.fields["u"].dtype == np.float32
    np.testing.assert_allclose(data.time, np.linspace(0, 1, 6))
    assert [(bd.face, bd.kind) for bd in data.boundary] == [
        ("x_lower", "neumann"),
        ("x_upper", "neumann"),
        ("y_lower", "neumann"),
        ("y_upper", "neumann"),
    ]
    assert all(np.all(bd.values == 0) for bd in data.boundary)
    again = build_wave2d_dataset(3, 16, n_frames=5, seed=4, c_range=(0.8, 1.2))
    assert data.identical(again)
    other = build_wave2d_dataset(3, 16, n_frames=5, seed=5, c_range=(0.8, 1.2))
    assert not np.array_equal(other.fields["u"], data.fields["u"])
    assert np.all((data.params["c"] >= 0.8) & (data.params["c"] <= 1.2))
    moving = build_wave2d_dataset(2, 8, n_frames=3, released_from_rest=False)
    assert set(moving.fields) == {"u", "u_t"}
    with pytest.raises(ValueError, match="n_traj"):
        build_wave2d_dataset(0, 8)
    with pytest.raises(ValueError, match="c_range"):
        build_wave2d_dataset(1, 8, c_range=(0.0, 1.0))
