"""Users ask their own question (test values, t*, ranges as config), the bounded method with two
exact linear constraints, and the SoftC-ANP training budget (pcml.experiments.probconserv)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy.optimize import minimize

from pcml.cli import main
from pcml.constraints import conserve, quadrature_weights
from pcml.data import read_dataset
from pcml.experiments.probconserv import format_table, prepare_data, run, table_notes, withheld
from pcml.experiments.probconserv_bounds import bounded_mean, constraint_rows, feasible
from pcml.experiments.probconserv_config import make_config
from pcml.experiments.probconserv_eval import METHOD_SPECS, apply_method
from pcml.pdes.gpme import Bounds, get_problem

F64 = torch.float64
FAST = "anp,probconserv_anp,probconserv_anp_bounded"


def _cli(args: list[str]) -> object:
    return CliRunner().invoke(main, args, catch_exceptions=False)


@pytest.mark.parametrize(
    ("problem", "value", "param_name"), [("stefan", 0.65, "u_star"), ("pme", 2.5, "m")]
)
def test_cli_answers_the_users_question(
    problem: str, value: float, param_name: str, tmp_path: Path
) -> None:
    out = tmp_path / problem
    args = ["probconserv", "run", problem, "--profile", "smoke", "--out", str(out)]
    sets = ["--set", f"problem.test_values=[{value}]", "--set", "problem.t_star=0.08"]
    methods = [] if problem == "stefan" else ["--methods", FAST]  # stefan: the command
    res = _cli([*args, *sets, *methods, "--no-progress", "--no-figures"])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    table = (out / "table.md").read_text()
    assert f"### {param_name} = {value:g}, t* = 0.08" in table
    assert table in res.output  # type: ignore[attr-defined]
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == [format(value, "g")]
    config = (out / "config.toml").read_text()
    assert f"test_values = [{value}]" in config and "t_star = 0.08" in config
    # the truth in the profiles is the closed form at (t*, value): the question was really asked
    prob = get_problem(problem)
    prof = json.loads((out / "profiles.json").read_text())[format(value, "g")]
    truth = prob.solution(0.08, np.asarray(prof["x"]), value)
    np.testing.assert_allclose(prof["truth"], truth, atol=1e-6)
    test = read_dataset(next((out / "data").glob("*/test.h5")))
    assert np.any(np.isclose(test.time, 0.08, rtol=0, atol=1e-12))  # on the grid (pme: inserted)
    assert set(np.asarray(test.params[param_name])) == {value}
    # the saved config reruns the same question (resume, nothing recomputed differently)
    again = _cli(
        [*args, "--config", str(out / "config.toml"), *methods, "--no-progress", "--no-figures"]
    )
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    assert json.loads((out / "metrics.json").read_text()) == metrics


REFUSALS = [
    ("stefan", "problem.test_values=[1.5]", "problem.test_values: got [1.5], expected u_star in"),
    ("pme", "problem.test_values=[-1.0]", "got [-1.0], expected m in (0, inf)"),
    ("stefan", "problem.t_star=0.2", "problem.t_star: got 0.2, expected a time in problem.t_range"),
    ("stefan", "problem.t_range=[0.0, 1.0]", "problem.t_range: t1 = 1.0 is past"),
    ("stefan", "problem.train_range=[0.7, 0.6]", "train_range: got [0.7, 0.6], expected lo"),
    ("pme", "problem.train_range=[1.0, 2.0, 3.0]", "expected 2 values"),
]


@pytest.mark.parametrize(("problem", "setting", "message"), REFUSALS)
def test_cli_refuses_out_of_range_questions_before_work(
    problem: str, setting: str, message: str, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    res = _cli(
        ["probconserv", "run", problem, "--profile", "smoke", "--out", str(out), "--set", setting]
    )
    assert res.exit_code == 2  # type: ignore[attr-defined]
    assert message in res.output  # type: ignore[attr-defined]
    assert not out.exists()  # refused before any work


def test_question_enters_the_data_key_and_training_keeps_its_own(tmp_path: Path) -> None:
    base = make_config("stefan", "smoke")
    asked = make_config("stefan", "smoke", overrides=["problem.test_values=[0.65]"])
    ranged = make_config("stefan", "smoke", overrides=["problem.train_range=[0.6, 0.7]"])
    folders = {
        name: prepare_data(cfg, tmp_path / name)["test"].parent.name
        for name, cfg in (("base", base), ("asked", asked), ("ranged", ranged))
    }
    assert len(set(folders.values())) == 3
    # defaults are resolved and recorded: the profile states the article's question
    assert base.problem_settings.test_values == (0.5, 0.6)
    assert base.problem_settings.t_star == 0.05
    train = read_dataset(tmp_path / "ranged" / "data" / folders["ranged"] / "train.h5")
    p = np.asarray(train.params["u_star"])
    assert p.min() >= 0.6 and p.max() <= 0.7


# ------------------------------------------------------------------------------ bounded method
def _stefan_like(n: int, batch: int, seed: int) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.linspace(0.0, 1.0, n, dtype=F64)
    S = 4
    means = 1.4 * torch.exp(-4 * x) + 0.1 * torch.randn(S, batch, n, generator=gen, dtype=F64)
    variances = 0.01 + 0.2 * torch.rand(S, batch, n, generator=gen, dtype=F64)
    b = 0.2 + 0.1 * torch.rand(batch, generator=gen, dtype=F64)
    return x, means, variances, b


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bounded_method_keeps_mass_and_dirichlet_exact_within_bounds(seed: int) -> None:
    x, means, variances, b = _stefan_like(101, 6, seed)
    g = quadrature_weights(x)
    inflow = torch.ones(6, dtype=F64)
    out, samples = apply_method(
        METHOD_SPECS["probconserv_anp_bounded"],
        means,
        variances,
        g,
        b,
        inflow=inflow,
        bounds=Bounds(0.0, 1.0),
        n_samples=50,
        generator=torch.Generator().manual_seed(0),
    )
    u = out.mean
    assert torch.all(u >= 0.0) and torch.all(u <= 1.0)
    assert torch.all((u[:, 0] - 1.0).abs() <= 1e-12)  # u(0, t*) = 1 to round-off
    assert torch.all((u @ g - b).abs() <= 1e-12 * b.abs())  # mass: relative residual
    # the unbounded two-row posterior overshoots here: the bounds did something
    plain, _ = apply_method(
        METHOD_SPECS["probconserv_anp_bounded"], means, variances, g, b, inflow=inflow
    )
    assert float(plain.mean.max()) > 1.05
    assert torch.all((plain.mean[:, 0] - 1.0).abs() <= 1e-12)
    # exact samples satisfy both rows
    assert samples is not None
    assert torch.all((samples[..., 0] - 1.0).abs() <= 1e-12)
    assert torch.all((samples @ g - b).abs() <= 1e-12 * b.abs())


def test_bounded_mean_is_the_qp_solution() -> None:
    # against a generic solver (SLSQP) on a small slice: same minimiser of the weighted distance
    x, means, variances, b = _stefan_like(12, 3, 5)
    g = quadrature_weights(x)
    G, beta = constraint_rows(g, b, torch.ones(3, dtype=F64))
    mu = conserve(means[0], variances[0], G=G, b=beta).mean
    v = variances[0]
    u, ok = bounded_mean(mu, v, G, beta, Bounds(0.0, 1.0))
    assert bool(ok.all())
    for i in range(3):
        m_i, v_i = mu[i].numpy(), v[i].numpy()
        res = minimize(
            lambda z, m_i=m_i, v_i=v_i: float(((z - m_i) ** 2 / v_i).sum()),
            np.clip(m_i, 0, 1),
            jac=lambda z, m_i=m_i, v_i=v_i: 2 * (z - m_i) / v_i,
            bounds=[(0.0, 1.0)] * 12,
            constraints=[{"type": "eq", "fun": lambda z, i=i: G.numpy() @ z - beta[i].numpy()}],
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 500},
        )
        assert res.success
        np.testing.assert_allclose(u[i].numpy(), res.x, atol=1e-6)


def test_bounded_mean_one_sided_and_infeasible_slices() -> None:
    x, means, variances, b = _stefan_like(51, 4, 3)
    g = quadrature_weights(x)
    G, beta = constraint_rows(g, b, torch.ones(4, dtype=F64))
    mu = conserve(means[0], variances[0], G=G, b=beta).mean
    u, ok = bounded_mean(mu, variances[0], G, beta, Bounds(0.0, None))
    assert bool(ok.all()) and torch.all(u >= 0)
    assert torch.all((u @ G.T - beta).abs() <= 1e-12)
    # b = 0 with u(0) = 1 > 0 and u ≥ 0 (Stefan at t = 0): empty set, the mean is kept, flagged
    beta0 = beta.clone()
    beta0[1, 0] = 0.0
    assert feasible(G, beta0, Bounds(0.0, 1.0)).tolist() == [True, False, True, True]
    mu0 = conserve(means[0], variances[0], G=G, b=beta0).mean
    u0, ok0 = bounded_mean(mu0, variances[0], G, beta0, Bounds(0.0, 1.0))
    assert ok0.tolist() == [True, False, True, True]
    assert torch.equal(u0[1], mu0[1])
    # a mass at the top of its range leaves one point: u = 1 everywhere
    top = beta.clone()
    top[2, 0] = g.sum()
    mu_top = conserve(means[0], variances[0], G=G, b=top).mean
    u_top, ok_top = bounded_mean(mu_top, variances[0], G, top, Bounds(0.0, 1.0))
    assert bool(ok_top.all())
    torch.testing.assert_close(u_top[2], torch.ones(51, dtype=F64), rtol=0, atol=1e-12)


def test_stefan_run_reports_the_bounded_method(tmp_path: Path) -> None:
    cfg = make_config("stefan", "smoke", overrides=[f"methods={FAST.split(',')}".replace("'", '"')])
    metrics = run(cfg, tmp_path, progress=False, figures=False, log=lambda s: None)
    profiles = json.loads((tmp_path / "profiles.json").read_text())
    for value, rows in metrics.items():
        assert abs(rows["probconserv_anp_bounded"]["ce"]) <= 1e-12
        mean = np.asarray(profiles[value]["probconserv_anp_bounded"]["mean"])
        assert mean.min() >= 0.0 and mean.max() <= 1.0 and mean[0] == 1.0
    assert (
        "probconserv_anp_bounded: mass and u(t, x_min) exact" in (tmp_path / "table.md").read_text()
    )


# ------------------------------------------------------------------------------- SoftC budget
def test_softc_budget_is_stated_in_the_table() -> None:
    quick = make_config("stefan", "quick")
    assert quick.softc_init == "anp"
    (note,) = [n for n in table_notes(quick) if n.startswith("softc_anp")]
    assert "the trained ANP (3000 steps) fine-tuned for 250 steps" in note
    short = make_config("stefan", "smoke", overrides=["train.anp.epochs=3"])
    (note,) = [n for n in table_notes(short) if n.startswith("softc_anp")]
    assert note.startswith("softc_anp: UNDER-TRAINED, trained from scratch for 2 steps")
    assert withheld(short) == {"softc_anp": "under-trained (2 of the ANP's 6 steps): not reported"}
    row = {"mse": 1.0, "mse_se": 0.1, "ce": 0.0, "ll": 0.0, "crps": 0.0, "shock_mean": None}
    table = format_table({"0.6": {"softc_anp": row}}, "u_star", 0.05, [], withheld(short))
    assert "| softc_anp | under-trained (2 of the ANP's 6 steps): not reported |" in table
    assert "1.000e+00" not in table  # the under-trained number is not printed
    assert withheld(quick) == {}
    paper = make_config("stefan", "paper")
    (note,) = [n for n in table_notes(paper) if n.startswith("softc_anp")]
    assert "from scratch for 20000 steps (ANP: 20000)" in note


def test_softc_fine_tunes_the_trained_anp(tmp_path: Path) -> None:
    cfg = make_config(
        "pme",
        "smoke",
        overrides=['softc_init="anp"', 'methods=["softc_anp"]', "train.softc.lr=1e-12"],
    )
    run(cfg, tmp_path, progress=False, figures=False, log=lambda s: None)
    anp = torch.load(tmp_path / "checkpoints" / "anp-last.pt", weights_only=True)
    softc = torch.load(tmp_path / "checkpoints" / "softc-last.pt", weights_only=True)
    assert softc["config"]["model"]["init"]["from"] == "anp"
    # with lr = 1e-12 (Adam steps ≈ lr) the fine-tuned weights are the ANP's: it started there
    for key, value in anp["state_dict"].items():
        torch.testing.assert_close(softc["state_dict"][key], value, rtol=0, atol=1e-9)
    fresh = make_config("pme", "smoke", overrides=['methods=["softc_anp"]'])
    assert fresh.softc_init == "scratch"
