"""2-D heat equation with closed form and integral laws (pcml.pdes.diffusion2d)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.integrate import dblquad

from pcml.pdes.diffusion2d import Diffusion2D, moment_rows, square_grid


def test_closed_form_solves_the_pde_with_zero_boundary_values() -> None:
    prob = Diffusion2D()
    rng = np.random.default_rng(0)
    t, x, y = rng.uniform(0.05, 0.95, (3, 50))
    k, h = 0.07, 1e-4
    u = lambda t_, x_, y_: prob.solution(t_, x_, y_, k)  # noqa: E731
    u_t = (u(t + h, x, y) - u(t - h, x, y)) / (2 * h)
    lap = (
        u(t, x + h, y) + u(t, x - h, y) + u(t, x, y + h) + u(t, x, y - h) - 4 * u(t, x, y)
    ) / h**2
    np.testing.assert_allclose(u_t, k * lap, atol=1e-5)
    s = np.linspace(0, 1, 11)
    for edge in (prob.solution(0.3, 0.0, s, k), prob.solution(0.3, 1.0, s, k)):
        np.testing.assert_allclose(edge, 0.0, atol=1e-15)
    np.testing.assert_allclose(prob.solution(0.3, s, 1.0, k), 0.0, atol=1e-15)


@pytest.mark.parametrize(("t", "kappa"), [(0.0, 0.05), (0.5, 0.02), (0.9, 0.1)])
def test_moments_are_the_exact_integrals(t: float, kappa: float) -> None:
    prob = Diffusion2D()
    exact = prob.moments(t, kappa)
    for k, weight in enumerate((lambda x, y: 1.0, lambda x, y: x, lambda x, y: y)):
        val, _ = dblquad(
            lambda y, x, w=weight: w(x, y) * prob.solution(t, x, y, kappa),
            0,
            1,
            0,
            1,
            epsabs=1e-13,
        )
        assert exact[k] == pytest.approx(val, abs=1e-11)


def test_moment_rows_are_second_order_quadrature_of_the_laws() -> None:
    prob = Diffusion2D()
    errs = []
    for n in (21, 41):
        x, y = square_grid(n)
        u = torch.as_tensor(prob.solution(0.5, x.numpy(), y.numpy(), 0.05))
        G = moment_rows(n)
        errs.append(np.abs((G @ u).numpy() - prob.moments(0.5, 0.05)).max())
    assert errs[1] < errs[0] / 3.5  # O(h²)
    assert torch.linalg.matrix_rank(moment_rows(5)) == 3  # three independent laws


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="train_range"):
        Diffusion2D(train_range=(0.1, 0.05))
    with pytest.raises(ValueError, match="kappa"):
        Diffusion2D().solution(0.1, 0.5, 0.5, -1.0)
    with pytest.raises(ValueError, match="rows"):
        moment_rows(5, ("mass", "z"))
    with pytest.raises(ValueError, match="n:"):
        square_grid(1)
