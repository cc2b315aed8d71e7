"""Physical bounds and Dirichlet inflow data of the ProbConserv problems (pcml.pdes.gpme)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pcml.pdes.gpme import PROBLEMS, Bounds, get_problem


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_closed_forms_respect_the_declared_bounds(name: str) -> None:
    prob = get_problem(name)
    lo, hi = prob.bounds.lower, prob.bounds.upper
    params = np.linspace(*prob.train_range, 5)
    params = np.concatenate([params, prob.test_values])
    t = np.linspace(*prob.t_range, 41)
    x = np.linspace(*prob.x_range, 201)
    u = prob.solution(t[None, :, None], x[None, None, :], params[:, None, None])
    if lo is not None:
        assert u.min() >= lo
    if hi is not None:
        assert u.max() <= hi
    # the bounds are attained or approached: they are not vacuous
    assert lo is not None or hi is not None
    if lo is not None:
        assert u.min() <= lo + 1e-12 or name == "diffusion"


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_inflow_value_is_the_solution_at_x_min(name: str) -> None:
    prob = get_problem(name)
    t = np.linspace(*prob.t_range, 11)
    p = np.asarray(prob.test_values)[:, None]
    if not prob.inflow_dirichlet:
        with pytest.raises(ValueError, match="prescribes no Dirichlet"):
            prob.inflow_value(t, p)
        return
    np.testing.assert_array_equal(prob.inflow_value(t, p), prob.solution(t, prob.x_range[0], p))


def test_prescribed_inflow_values() -> None:
    t = np.array([0.01, 0.05, 0.1])
    np.testing.assert_array_equal(get_problem("stefan").inflow_value(t, 0.6), np.ones(3))
    pme = get_problem("pme")
    np.testing.assert_allclose(pme.inflow_value(t, 2.5), (2.5 * t) ** (1 / 2.5), rtol=1e-15)
    np.testing.assert_array_equal(get_problem("burgers").inflow_value(t, 3.0), np.full(3, 3.0))


def test_bounds_are_frozen_data_and_validated() -> None:
    b = get_problem("stefan").bounds
    assert b == Bounds(0.0, 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.lower = -1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="lower < upper"):
        Bounds(1.0, 0.0)


def test_valid_until_is_the_stefan_exit_time() -> None:
    stefan = get_problem("stefan")
    t_exit = float(stefan.valid_until(0.6))
    assert float(stefan.front(t_exit * (1 - 1e-12), 0.6)) == pytest.approx(1.0, rel=1e-9)
    with pytest.raises(ValueError, match="leaves"):
        stefan.solution(t_exit * 1.01, 0.5, 0.6)
    assert np.isinf(get_problem("pme").valid_until(2.5))
