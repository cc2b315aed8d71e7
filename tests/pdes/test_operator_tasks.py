"""Operator tasks: shapes, exact masses, split ranges and seeds, fronts inside Ω."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pcml.pdes.gpme import get_problem, stefan_constants
from pcml.pdes.operator_tasks import (
    OPERATOR_TASKS,
    SHIFT_NAMES,
    SPLIT_NAMES,
    get_operator_task,
    make_operator_split,
    operator_split_at,
)


@pytest.mark.parametrize("problem", sorted(OPERATOR_TASKS))
def test_shapes_channels_and_ranges(problem: str) -> None:
    task = get_operator_task(problem, n_x=20, n_t=5)
    for split in SPLIT_NAMES:
        sp = make_operator_split(task, split, 7, seed=3)
        assert tuple(sp.a.shape) == (7, 3, 20, 5) and tuple(sp.u.shape) == (7, 1, 20, 5)
        lo, hi = task.param_range(split)
        theta = sp.params[:, 0]
        assert bool(((theta >= lo) & (theta <= hi)).all())
        torch.testing.assert_close(sp.a[:, 0], theta.float()[:, None, None].expand(7, 20, 5))
        assert float(sp.a[:, 1].min()) == 0.0 and float(sp.a[:, 1].max()) == 1.0
        assert float(sp.a[:, 2].max()) == 1.0 and float(sp.a[:, 2].min()) > 0.0
        prob = get_problem(task.gpme)
        if task.gpme != "diffusion":
            exact = prob.solution(
                sp.t[None, None, :].numpy(),
                sp.x[None, :, None].numpy(),
                theta[:, None, None].numpy(),
            )
            np.testing.assert_array_equal(sp.u64[:, 0].numpy(), exact)


@pytest.mark.parametrize("problem", sorted(OPERATOR_TASKS))
def test_mass_is_the_integral_of_the_solution(problem: str) -> None:
    """b(t) against the trapezoid of the closed form on a fine grid (the data's own b)."""
    fine = get_operator_task(problem, n_x=20001, n_t=4)
    sp = make_operator_split(fine, "large", 3)
    trap = torch.trapezoid(sp.u64[:, 0], sp.x, dim=1)
    scale = float(sp.b.abs().max()) + 1.0
    assert float((trap - sp.b).abs().max()) < 2e-4 * scale


def test_ood_shifts_are_disjoint_from_training_and_ordered() -> None:
    for problem in OPERATOR_TASKS:
        task = get_operator_task(problem)
        lo, hi = task.train_range
        dists = []
        for name in SHIFT_NAMES:
            slo, shi = task.param_range(name)
            assert shi <= lo or slo >= hi, (problem, name)
            dists.append(min(abs(slo - lo), abs(slo - hi), abs(shi - lo), abs(shi - hi)))
        assert dists == sorted(dists)


def test_splits_reproducible_and_distinct() -> None:
    task = get_operator_task("pme", n_x=10, n_t=3)
    a = make_operator_split(task, "train", 5, seed=1)
    assert torch.equal(a.params, make_operator_split(task, "train", 5, seed=1).params)
    assert not torch.equal(a.params, make_operator_split(task, "valid", 5, seed=1).params)
    assert not torch.equal(a.params, make_operator_split(task, "train", 5, seed=2).params)


def test_stefan_front_inside_domain_over_the_horizon() -> None:
    task = get_operator_task("stefan")
    lo = min(r[0] for _, r in task.shifts)
    _, alpha, _ = stefan_constants(np.array(lo))
    front = float(alpha * np.sqrt(task.t_max))
    assert 0.85 < front < 1.0  # the horizon uses most of Ω but keeps the front inside
    with pytest.raises(ValueError, match="t_max"):
        get_operator_task("stefan", t_max=0.5)  # 1/α² = 0.478 at u* = 0.4
    with pytest.raises(ValueError, match="t_max"):
        get_operator_task("advection", t_max=0.07)  # 0.5 + 8 · 0.07 > 1


def test_heat_phase_channel_and_bad_input() -> None:
    task = get_operator_task("diffusion", n_x=16, n_t=4, phase_range=(0.0, 1.0))
    sp = make_operator_split(task, "test", 4)
    assert sp.a.shape[1] == 4 and task.in_channels == 4
    torch.testing.assert_close(sp.a[:, 1], sp.params[:, 1].float()[:, None, None].expand(4, 16, 4))
    u = torch.sin(sp.x[None, :, None] + sp.params[:, 1, None, None]) * torch.exp(
        -sp.params[:, 0, None, None] * sp.t[None, None, :]
    )
    torch.testing.assert_close(sp.u64[:, 0], u)
    with pytest.raises(ValueError, match="problem"):
        get_operator_task("burgers")
    with pytest.raises(ValueError, match="split"):
        make_operator_split(task, "huge", 3)
    with pytest.raises(ValueError, match="n:"):
        make_operator_split(task, "train", 0)
    with pytest.raises(ValueError, match="phase_range"):
        get_operator_task("pme", phase_range=(0.0, 1.0))


def test_stefan_anp_task_is_the_probconserv_test_setting() -> None:
    """201 points x_i = i/200, t ∈ (0, 0.1] with t* = 0.05 on the grid, the ANP's training range;
    the exact Stefan solution and mass."""
    task = get_operator_task("stefan_anp")
    assert task.gpme == "stefan" and task.param_name == "u_star"
    assert task.train_range == (0.55, 0.70) and task.t_max == 0.1
    np.testing.assert_allclose(task.x_grid(), np.arange(201) / 200, rtol=0, atol=1e-15)
    assert np.isclose(task.t_grid(), 0.05).sum() == 1
    sp = operator_split_at(task, [0.5, 0.6])
    prob = get_problem("stefan")
    t, x = task.t_grid(), task.x_grid()
    for i, v in enumerate((0.5, 0.6)):
        np.testing.assert_array_equal(
            sp.u64[i, 0].numpy(), prob.solution(t[None, :], x[:, None], np.array(v))
        )
        np.testing.assert_array_equal(sp.b[i].numpy(), prob.mass(t, np.array(v)))
    torch.testing.assert_close(sp.a[1, 0], torch.full((201, 10), 0.6))


def test_split_at_equals_the_drawn_split_and_refuses_bad_input() -> None:
    task = get_operator_task("diffusion", n_x=12, n_t=3, phase_range=(0.0, 1.0))
    drawn = make_operator_split(task, "small", 4, seed=5)
    again = operator_split_at(task, drawn.params[:, 0], "small", drawn.params[:, 1])
    assert torch.equal(drawn.a, again.a) and torch.equal(drawn.u64, again.u64)
    assert torch.equal(drawn.b, again.b)
    with pytest.raises(ValueError, match="phase"):
        operator_split_at(task, [2.0])
    with pytest.raises(ValueError, match="phase"):
        operator_split_at(get_operator_task("pme", n_x=8, n_t=2), [2.0], phase=[0.1])
    with pytest.raises(ValueError, match="theta"):
        operator_split_at(get_operator_task("pme", n_x=8, n_t=2), [])
