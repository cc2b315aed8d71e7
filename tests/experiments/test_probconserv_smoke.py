"""Smoke runs of ``pcml probconserv run`` for all five problems (smoke profile, seconds each)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcml.cli import main
from pcml.experiments.probconserv import run
from pcml.experiments.probconserv_config import ALL_METHODS, make_config
from pcml.pdes.gpme import get_problem

CONSTRAINED = [m for m in ALL_METHODS if m.startswith("probconserv") and "noisy" not in m]
CONSTRAINED.append("hardc_anp")
METRICS = ("mse", "ce", "ll", "crps", "shock_mean", "shock_std")


def _check_metrics(metrics: dict, problem: str) -> None:
    prob = get_problem(problem)
    assert list(metrics) == [format(v, "g") for v in prob.test_values]
    for rows in metrics.values():
        assert list(rows) == list(ALL_METHODS)
        for method, m in rows.items():
            assert set(METRICS) <= set(m)
            for key in ("mse", "ll", "crps", "ce"):
                assert isinstance(m[key], float) and math.isfinite(m[key]), (method, key)
            assert m["mse"] >= 0 and m["crps"] >= 0
            if prob.shock_analysis:
                lo, hi = prob.x_range
                assert lo <= m["shock_mean"] <= hi and m["shock_std"] >= 0
            else:
                assert m["shock_mean"] is None and m["shock_std"] is None
        for method in CONSTRAINED:
            assert abs(rows[method]["ce"]) <= 1e-10, method
        # the unconstrained untrained ANP does not conserve (a test that could fail)
        assert abs(rows["anp"]["ce"]) > 1e-6


@pytest.mark.parametrize("problem", ["diffusion", "pme", "advection", "burgers"])
def test_smoke_run(problem: str, tmp_path: Path) -> None:
    cfg = make_config(problem, "smoke")
    metrics = run(cfg, tmp_path, progress=False, figures=False, log=lambda s: None)
    _check_metrics(metrics, problem)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == json.loads(json.dumps(metrics))
    for name in ("config.toml", "table.md", "curves.json", "shocks.json", "timings.json"):
        assert (tmp_path / name).is_file(), name
    h5 = sorted(p.name for p in (tmp_path / "data").glob("*/*.h5"))
    assert h5 == ["test.h5", "train.h5", "valid.h5"]


def test_smoke_stefan_cli_figures_report_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "stefan"
    args = ["probconserv", "run", "stefan", "--profile", "smoke", "--out", str(out)]
    res = CliRunner().invoke(main, [*args, "--no-progress"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())
    _check_metrics(metrics, "stefan")
    for name in ("command.txt", "config.toml", "report.html", "table.md"):
        assert (out / name).is_file(), name
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert figs == {"fig_mass.png", "fig_profile.png", "fig_shock.png", "fig_mse_time.png"}
    assert "probconserv run stefan --profile smoke" in (out / "command.txt").read_text()
    assert 'profile = "smoke"' in (out / "config.toml").read_text()
    assert "data:image/png;base64" in (out / "report.html").read_text()

    ckpts = sorted((out / "checkpoints").glob("*-last.pt"))
    assert len(ckpts) == 4
    stamps = {p: p.stat().st_mtime_ns for p in ckpts}
    cfg = make_config("stefan", "smoke")
    again = run(cfg, out, progress=False, figures=False, log=lambda s: None)
    assert again == metrics  # same metrics, bit for bit
    timings = json.loads((out / "timings.json").read_text())
    for kind in ("anp", "softc", "ensemble", "gp"):  # nothing retrained
        assert timings[f"train_{kind}_resumed_from"] == cfg.train.anp.epochs
    for stage in ("data", "train_anp", "predict_anp", "evaluate"):  # wall and CPU seconds
        assert timings[f"{stage}_s"] >= 0.0 and timings[f"{stage}_cpu_s"] >= 0.0
    assert timings["total_cpu_s"] >= timings["evaluate_cpu_s"]
    assert {p: p.stat().st_mtime_ns for p in ckpts} == stamps

    # changed training settings in the same directory: refused before anything runs (the run
    # directory holds one config), not silently mixed
    changed = make_config("stefan", "smoke", overrides=["train.anp.lr=0.5"])
    with pytest.raises(ValueError, match="different config"):
        run(changed, out, progress=False, figures=False, log=lambda s: None)
    # changed data settings get a new data folder (keyed by the hash), never the stale one
    data_dirs = {p.name for p in (out / "data").iterdir()}
    other = make_config("stefan", "smoke", overrides=["data.seed=1", 'methods=["gp"]'])
    run(other, tmp_path / "other", progress=False, figures=False, log=lambda s: None)
    assert not data_dirs & {p.name for p in (tmp_path / "other" / "data").iterdir()}


def test_help_documents_every_option() -> None:
    res = CliRunner().invoke(main, ["probconserv", "run", "--help"])
    assert res.exit_code == 0
    for opt in ("--profile", "--out", "--config", "--set", "--inequality", "--methods", "--seed"):
        assert opt in res.output
