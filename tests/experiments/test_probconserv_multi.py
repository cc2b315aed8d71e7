"""Several linear laws at once and ProbConserv in 2-D (pcml.experiments.probconserv_multi)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcml.cli import main
from pcml.experiments.probconserv_multi import MultiConfig, run_2d, run_spacetime

SMALL = MultiConfig(n_train=3, n_test=2, fit_steps=5, n_times=4, n_x=21, n_context=40, grid=11)
TOL = 1e-12


@pytest.mark.parametrize("problem", ["pme", "stefan", "burgers"])
def test_spacetime_every_constraint_holds(problem: str) -> None:
    cfg = MultiConfig(**{**SMALL.__dict__, "problem": problem})
    res = run_spacetime(cfg)
    # every slice's mass (m = T rows, jointly) to round-off
    for method in ("pc_slice_diag", "pc_slice", "pc_joint", "pc_joint_bc"):
        assert res[method]["residual_mass"] <= TOL, method
    # and the Dirichlet rows where they are imposed (m = 2T)
    assert res["pc_joint_bc"]["residual_dirichlet"] <= TOL
    # the unconstrained GP violates both (a test that can fail)
    assert res["gp"]["residual_mass"] > 1e-6 and res["gp"]["residual_dirichlet"] > 1e-6
    assert res["pc_joint"]["residual_dirichlet"] > 1e-6


def test_spacetime_default_size_stefan_is_exact_despite_ill_conditioning() -> None:
    # ten smooth Stefan mass rows: cond(GΣGᵀ) ≈ 1e11, one solve alone left 3e-10
    res = run_spacetime(MultiConfig(problem="stefan", n_train=3, n_test=1, fit_steps=60))
    assert res["pc_joint"]["residual_mass"] <= TOL
    assert res["pc_joint_bc"]["residual_mass"] <= TOL
    assert res["pc_joint_bc"]["residual_dirichlet"] <= TOL


def test_2d_mass_and_moments_hold() -> None:
    res = run_2d(SMALL)
    for method in ("pc_mass_diag", "pc_mass", "pc_moments"):
        assert res[method]["residual_mass"] <= TOL, method
    for law in ("mass", "x", "y"):
        assert res["pc_moments"][f"residual_{law}"] <= TOL, law
        assert res["gp"][f"residual_{law}"] > 1e-6, law
    assert res["pc_mass"]["residual_x"] > 1e-6  # mass alone does not give the moments


def test_cli_multi_writes_results_and_refuses_bad_settings(tmp_path: Path) -> None:
    out = tmp_path / "multi"
    sets = [f"--set={k}={v}" for k, v in SMALL.__dict__.items() if k != "problem"]
    res = CliRunner().invoke(main, ["probconserv", "multi", "--out", str(out), *sets])
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == ["space-time (pme)", "2-D heat (mass, x-, y-moment)"]
    assert "| pc_moments |" in (out / "table.md").read_text()
    assert "grid = 11" in (out / "config.toml").read_text()
    bad = CliRunner().invoke(
        main, ["probconserv", "multi", "--out", str(tmp_path / "b"), "--set", "grid=2"]
    )
    assert bad.exit_code == 2 and "grid: expected >= 3" in bad.output
    assert not (tmp_path / "b").exists()
