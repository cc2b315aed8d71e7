"""Smoke runs of ``pcml opc run`` (smoke profile, seconds): every model and problem, the exact
conservation after the update, the CLI with figures, report and resume, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcml.cli import main
from pcml.experiments.config import to_toml
from pcml.experiments.opc.config import ALL_METHODS, make_config
from pcml.experiments.opc.run import EVAL_SPLITS, run

KEYS = ("mse", "mse_se", "nll", "crps", "piw", "coverage", "rmsce", "nmerci", "ce", "ce_rel")


def _check(metrics: dict, methods: tuple[str, ...] = ALL_METHODS) -> None:
    assert list(metrics) == list(EVAL_SPLITS)
    for split, rows in metrics.items():
        assert list(rows) == [r for m in methods for r in (m, f"{m}+pc")]
        for name, m in rows.items():
            assert set(KEYS) <= set(m), name
            for key in ("mse", "nll", "crps", "piw", "coverage", "rmsce", "ce", "ce_rel"):
                assert isinstance(m[key], float) and math.isfinite(m[key]), (split, name, key)
            assert 0 <= m["coverage"] <= 1 and m["mse"] >= 0 and m["crps"] >= 0
        for method in methods:
            # exact conservation after the update, for every model and shift
            assert rows[f"{method}+pc"]["ce_rel"] <= 1e-12, (split, method)
            # ... which the untrained models do not have before it (a test that can fail)
            assert rows[method]["ce_rel"] > 1e-6, (split, method)
            assert rows[f"{method}+pc"]["piw"] <= rows[method]["piw"] * (1 + 1e-9)


@pytest.mark.parametrize("problem", ["diffusion", "pme", "stefan", "advection"])
def test_smoke_every_problem_and_model(problem: str, tmp_path: Path) -> None:
    cfg = make_config(problem, "smoke")
    metrics = run(cfg, tmp_path, progress=False, figures=False, log=lambda s: None)
    _check(metrics)
    assert json.loads((tmp_path / "metrics.json").read_text()) == metrics
    costs = json.loads((tmp_path / "costs.json").read_text())
    for method in ALL_METHODS:
        assert costs[method]["parameters"] > 0
        assert set(costs[method]["forward_s_per_function"]) == set(EVAL_SPLITS)
    # same backbone and budget for the post-hoc and end-to-end twins
    assert costs["meanvar"]["parameters"] == costs["meanvar_e2e"]["parameters"]


def test_joint_update_equals_per_slice(tmp_path: Path) -> None:
    methods = 'methods=["diverse", "meanvar_e2e"]'
    per_slice = run(
        make_config("pme", "smoke", overrides=[methods]),
        tmp_path / "a",
        progress=False,
        figures=False,
        log=lambda s: None,
    )
    joint = run(
        make_config("pme", "smoke", overrides=[methods, "joint=true"]),
        tmp_path / "b",
        progress=False,
        figures=False,
        log=lambda s: None,
    )
    _check(joint, ("diverse", "meanvar_e2e"))
    for split in EVAL_SPLITS:
        for name, m in per_slice[split].items():
            for key in ("mse", "crps", "piw"):
                assert math.isclose(m[key], joint[split][name][key], rel_tol=1e-9), (name, key)


def test_cli_figures_report_resume_and_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "stefan"
    args = [
        "opc",
        "run",
        "stefan",
        "--profile",
        "smoke",
        "--out",
        str(out),
        "--methods",
        "ensemble,diverse,mcdropout,meanvar,meanvar_e2e",
    ]
    res = CliRunner().invoke(main, [*args, "--no-progress"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    for name in ("command.txt", "config.toml", "report.html", "table.md", "fields.json"):
        assert (out / name).is_file(), name
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert figs == {
        "fig_error_uncertainty.png",
        "fig_calibration.png",
        "fig_mass.png",
        "fig_ood.png",
    }
    assert "data:image/png;base64" in (out / "report.html").read_text()
    assert "opc run stefan --profile smoke" in (out / "command.txt").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    again = CliRunner().invoke(main, [*args, "--no-progress", "--no-figures"])
    assert again.exit_code == 0, again.output
    assert json.loads((out / "metrics.json").read_text()) == metrics  # bit for bit
    costs = json.loads((out / "costs.json").read_text())
    assert all(costs[m]["resumed_from"] == 1 for m in ("ensemble", "meanvar_e2e"))

    bad = [
        ["opc", "run", "burgers", "--profile", "smoke", "--out", str(tmp_path / "x")],
        [
            "opc",
            "run",
            "pme",
            "--profile",
            "smoke",
            "--out",
            str(tmp_path / "y"),
            "--set",
            "uq.n_heads=1",
        ],
        [
            "opc",
            "run",
            "pme",
            "--profile",
            "smoke",
            "--out",
            str(tmp_path / "z"),
            "--methods",
            "ensemble,bayes",
        ],
        [*args, "--set", "train.lr=0.002"],  # a different config in the same directory (more
        # epochs would be the same run trained longer, which resumes)
    ]
    for argv in bad:
        res = CliRunner().invoke(main, argv)
        assert res.exit_code == 2, (argv, res.output)
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()


def test_config_toml_round_trip(tmp_path: Path) -> None:
    cfg = make_config("advection", "quick", overrides=["uq.n_members=3", "joint=true"])
    path = tmp_path / "c.toml"
    path.write_text(to_toml(cfg))
    assert make_config("advection", "quick", path) == cfg
    with pytest.raises(ValueError, match="contradict"):
        make_config("pme", "quick", path)
    with pytest.raises(ValueError, match="unknown key"):
        make_config("pme", "quick", overrides=["fno.width=3"])
    with pytest.raises(ValueError, match="phase_range"):
        make_config("pme", "quick", overrides=["data.phase_range=[0.0, 1.0]"])
    heat = make_config("diffusion", "smoke", overrides=["data.phase_range=[0.0, 3.0]"])
    assert heat.task().in_channels == 4


def test_summarize_over_seeds(tmp_path: Path) -> None:
    methods = 'methods=["ensemble", "diverse", "diverse_e2e"]'
    dirs = []
    for seed in (0, 1):
        cfg = make_config("advection", "smoke", overrides=[methods, f"seed={seed}"])
        run(cfg, tmp_path / f"s{seed}", progress=False, figures=False, log=lambda s: None)
        dirs.append(str(tmp_path / f"s{seed}"))
    res = CliRunner().invoke(main, ["opc", "summarize", *dirs])
    assert res.exit_code == 0, res.output
    assert "seeds [0, 1]" in res.output and "| diverse_e2e |" in res.output
    assert "Post hoc vs end to end" in res.output and " ± " in res.output
    dup = CliRunner().invoke(main, ["opc", "summarize", dirs[0], dirs[0]])
    assert dup.exit_code == 2 and "distinct seeds" in dup.output
    empty = CliRunner().invoke(main, ["opc", "summarize", str(tmp_path)])
    assert empty.exit_code == 2 and "metrics.json" in empty.output


@pytest.mark.parametrize("profile", ["quick", "paper"])
def test_larger_profiles_build_every_model(profile: str) -> None:
    """The quick/paper configs are valid for every problem and their models run on the grid."""
    from pcml.experiments.opc.run import build_model
    from pcml.pdes.operator_tasks import make_operator_split

    for problem in ("diffusion", "pme", "stefan", "advection"):
        cfg = make_config(problem, profile)
        sp = make_operator_split(cfg.task(), "large", 1)
        assert tuple(sp.a.shape[2:]) == (100, 20)
        if problem == "stefan":
            for method in ("diverse", "ensemble"):
                pred = build_model(cfg, method).predict(sp.a)
                assert pred.means.shape[-1] == 2000
