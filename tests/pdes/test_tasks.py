"""ANP point tasks of the ProbConserv experiments: sampling design, splits, PDEData round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pcml.data import H5PointDataset, read_dataset, write_dataset
from pcml.pdes.gpme import PROBLEMS, get_problem
from pcml.pdes.tasks import (
    evaluation_grid,
    make_split,
    sample_point_tasks,
    split_size,
    task_split_from_pdedata,
    to_pdedata,
)


@settings(max_examples=20)
@given(
    name=st.sampled_from(sorted(PROBLEMS)),
    n_fn=st.integers(1, 4),
    n_t=st.integers(1, 6),
    n_x=st.integers(1, 6),
    seed=st.integers(0, 2**31),
)
def test_sampling_design(name: str, n_fn: int, n_t: int, n_x: int, seed: int) -> None:
    prob = get_problem(name)
    rng = np.random.default_rng(seed)
    params = rng.uniform(*prob.train_range, n_fn)
    out = sample_point_tasks(prob, params, np.random.default_rng(seed), n_t=n_t, n_x=n_x)
    (t0, t1), (x0, x1) = prob.t_range, prob.x_range
    for kind in ("context", "target"):
        inp, val = out[f"{kind}_inputs"], out[f"{kind}_values"]
        assert inp.shape == (n_fn, n_t * n_x, 2) and val.shape == (n_fn, n_t * n_x, 1)
        assert inp.dtype == val.dtype == np.float64
        grid = inp.reshape(n_fn, n_t, n_x, 2)
        t, x = grid[:, :, 0, 0], grid[:, 0, :, 1]
        # product grid, time-major: every time uses the same sorted x
        np.testing.assert_array_equal(grid[..., 0], np.broadcast_to(t[:, :, None], grid.shape[:3]))
        np.testing.assert_array_equal(grid[..., 1], np.broadcast_to(x[:, None, :], grid.shape[:3]))
        assert np.all(np.diff(x, axis=1) >= 0) and np.all(np.diff(t, axis=1) >= 0)
        assert np.all((x0 <= x) & (x <= x1)) and np.all((t0 <= t) & (t <= t1))
        # values are the closed form, without noise
        ref = np.stack([prob.solution(inp[f, :, 0], inp[f, :, 1], params[f]) for f in range(n_fn)])
        np.testing.assert_array_equal(val[..., 0], ref)
        if kind == "context":  # stratified: one time per stratum
            lo = t0 + np.arange(n_t) / n_t * (t1 - t0)
            hi = t0 + (np.arange(n_t) + 1) / n_t * (t1 - t0)
            assert np.all((lo <= t) & (t <= hi))


def test_sampling_distribution_and_independence() -> None:
    prob = get_problem("pme")
    n_fn = 400
    out = sample_point_tasks(prob, np.full(n_fn, 2.0), np.random.default_rng(7))
    ctx = out["context_inputs"].reshape(n_fn, 10, 10, 2)
    tgt = out["target_inputs"].reshape(n_fn, 10, 10, 2)
    strata_u = ctx[:, :, 0, 0] * 10 - np.arange(10)  # t in [0, 1]: (i + U_i)/10
    assert stats.kstest(strata_u.ravel(), "uniform").pvalue > 1e-3
    assert stats.kstest(ctx[:, 0, :, 1].ravel(), "uniform").pvalue > 1e-3
    assert stats.kstest(tgt[:, :, 0, 0].ravel(), "uniform").pvalue > 1e-3
    assert stats.kstest(tgt[:, 0, :, 1].ravel(), "uniform").pvalue > 1e-3
    # sorted uniform order statistics: the k-th of 10 has mean k/11
    np.testing.assert_allclose(tgt[:, 0, :, 1].mean(0), np.arange(1, 11) / 11, atol=0.03)
    # contexts and targets, and different functions, are independent draws
    r = np.corrcoef(ctx[:, 0, 5, 1], tgt[:, 0, 5, 1])[0, 1]
    assert abs(r) < 0.2
    assert len({tuple(row) for row in ctx[:, 0, :, 1]}) == n_fn


def test_make_split_params_sizes_and_reproducibility() -> None:
    prob = get_problem("stefan")
    train = make_split(prob, "train", 30, seed=3)
    assert train.params.shape == (30,) and train.seed == 3 and train.split == "train"
    assert np.all((0.55 <= train.params) & (train.params <= 0.70))
    again = make_split("stefan", "train", 30, seed=3)
    for name in ("params", "context_inputs", "context_values", "target_inputs", "target_values"):
        np.testing.assert_array_equal(getattr(train, name), getattr(again, name))
    valid = make_split(prob, "valid", 30, seed=3)
    assert not np.array_equal(valid.params, train.params)
    assert not np.array_equal(make_split(prob, "train", 30, seed=4).params, train.params)
    test = make_split(prob, "test", 6, seed=3)
    np.testing.assert_array_equal(test.params, [0.5, 0.5, 0.5, 0.6, 0.6, 0.6])
    # within one test value the functions differ only by their context/target draws
    assert not np.array_equal(test.context_inputs[0], test.context_inputs[1])
    assert split_size("pme", "test") == 150 and split_size("stefan", "test") == 100
    assert split_size("burgers", "train") == 10_000 and split_size("burgers", "valid") == 100
    assert make_split("pme", "test", seed=0).n_functions == 150


def test_bad_arguments_raise() -> None:
    prob = get_problem("advection")
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="params must have shape"):
        sample_point_tasks(prob, np.ones((2, 1)), rng)
    with pytest.raises(ValueError, match="must be > 0"):
        sample_point_tasks(prob, np.array([1.0, -2.0]), rng)
    with pytest.raises(ValueError, match="n_t must be an int >= 1"):
        sample_point_tasks(prob, np.ones(2), rng, n_t=0)
    with pytest.raises(ValueError, match=r"rng must be a numpy\.random\.Generator"):
        sample_point_tasks(prob, np.ones(2), 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="split must be one of"):
        make_split(prob, "dev", 4)
    with pytest.raises(ValueError, match="multiple of the 2 test values"):
        make_split(prob, "test", 5)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        make_split(prob, "train", 4, seed=-1)
    with pytest.raises(ValueError, match="unknown problem name"):
        make_split("heat", "train", 4)


def test_evaluation_grid() -> None:
    t, x = evaluation_grid("stefan")
    assert t.shape == x.shape == (201,)
    assert (t[0], t[-1], x[0], x[-1]) == (0.0, 0.1, 0.0, 1.0)
    t, x = evaluation_grid("burgers", n_t=11, n_x=21)
    np.testing.assert_allclose(np.diff(x), 0.1)
    assert t.shape == (11,) and x[0] == -1.0


def test_evaluation_grid_includes_a_user_t_star() -> None:
    pme = dataclasses.replace(get_problem("pme"), t_star=0.08)
    t, _ = evaluation_grid(pme, 11, 5, include_t_star=True)
    assert t.shape == (12,) and np.all(np.diff(t) > 0) and 0.08 in t
    np.testing.assert_array_equal(np.delete(t, np.flatnonzero(t == 0.08)), np.linspace(0, 1, 11))
    # a t* already on the grid (to 1e-9) adds nothing; without the flag nothing changes
    on_grid = dataclasses.replace(pme, t_star=0.3 + 1e-12)
    assert evaluation_grid(on_grid, 11, 5, include_t_star=True)[0].shape == (11,)
    assert evaluation_grid(pme, 11, 5)[0].shape == (11,)
    data = to_pdedata(make_split(pme, "test", 3, seed=0, n_t=2, n_x=2), n_t=11, n_x=5)
    assert 0.08 in np.asarray(data.time) and np.asarray(data.fields["u"]).shape == (3, 12, 5)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_to_pdedata_round_trip(name: str, tmp_path: Path) -> None:
    prob = get_problem(name)
    split = make_split(prob, "test", 2 * len(prob.test_values), seed=11, n_t=3, n_x=4)
    data = to_pdedata(split, n_t=21, n_x=33)
    t, x = evaluation_grid(prob, 21, 33)
    u = data.fields["u"]
    assert u.shape == (split.n_functions, 21, 33) and data.seed == 11
    np.testing.assert_array_equal(
        u, prob.solution(t[None, :, None], x, split.params[:, None, None])
    )
    b = data.conserved.mass_rhs
    np.testing.assert_array_equal(b, prob.mass(t[None], split.params[:, None]))
    assert data.conserved.domain == prob.x_range and data.constants["problem"] == name
    np.testing.assert_array_equal(data.params[prob.param_name], split.params)
    path = write_dataset(tmp_path / f"{name}.h5", data)
    back = read_dataset(path)
    assert back.identical(data)
    restored = task_split_from_pdedata(back)
    assert restored.problem == prob and restored.seed == 11 and restored.split == "test"
    assert (restored.n_t, restored.n_x) == (3, 4)
    for key in ("params", "context_inputs", "context_values", "target_inputs", "target_values"):
        np.testing.assert_array_equal(getattr(restored, key), getattr(split, key))
    # regenerating from the stored seed and settings reproduces the stored tasks exactly
    regen = make_split(
        restored.problem,
        restored.split,
        restored.n_functions,
        restored.seed,
        n_t=restored.n_t,
        n_x=restored.n_x,
    )
    np.testing.assert_array_equal(regen.target_values, split.target_values)
    item = H5PointDataset(path)[1]
    assert tuple(item["context_x"].shape) == (12, 2) and tuple(item["target_y"].shape) == (12, 1)


def test_to_pdedata_train_has_no_dense_field_and_consistent_boundaries() -> None:
    split = make_split("pme", "train", 5, seed=1)
    data = to_pdedata(split, n_t=11, n_x=11)
    assert dict(data.fields) == {} and data.conserved.mass_rhs.shape == (5, 11)
    assert data.constants["split"] == "train" and data.constants["train_range"] == "1.0,6.0"
    lower = next(bc for bc in data.boundary if bc.side == "lower")
    t, _ = evaluation_grid("pme", 11, 11)
    m = split.params[:, None]
    np.testing.assert_allclose(lower.values, (m * t[None]) ** (1 / m))
    kinds = {bc.kind for bc in to_pdedata(make_split("diffusion", "train", 2, 0)).boundary}
    assert kinds == {"periodic"}


def test_dense_trapezoid_mass_converges_to_conserved_rhs() -> None:
    """G u = b up to quadrature error: the stored b is the exact integral of the stored field."""
    errs = []
    ns = np.array([101, 201, 401, 801])
    split = make_split("diffusion", "test", 2, seed=0, n_t=2, n_x=2)
    for n in ns:
        data = to_pdedata(split, n_t=5, n_x=n)
        u, x = data.fields["u"], data.coords["x"]
        errs.append(np.abs(np.trapezoid(u, x, axis=-1) - data.conserved.mass_rhs).max())
    assert max(errs) < 1e-12  # trapezoid is exact for a full period of sin
    split = make_split("pme", "test", 3, seed=0, n_t=2, n_x=2)
    errs = []
    for n in ns:
        data = to_pdedata(split, n_t=5, n_x=n)
        u, x = data.fields["u"], data.coords["x"]
        errs.append(np.abs(np.trapezoid(u, x, axis=-1) - data.conserved.mass_rhs)[:, 1:].max())
    slope = stats.linregress(np.log(ns), np.log(errs)).slope
    assert slope < -1.0, (slope, errs)  # converges; the front limits the order
