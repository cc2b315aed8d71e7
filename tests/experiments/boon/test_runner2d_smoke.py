"""Smoke runs of the 2-D BOON cases (cavity through ``pcml boon run``, wave2d through run_2d)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from pcml.cli import main
from pcml.experiments.boon.cases2d import MODELS_2D
from pcml.experiments.boon.config import default_config
from pcml.experiments.boon.runner import run as run_2d

FIGURES = ("initial_field", "last_frame", "error_over_time")


def _check(out: Path, tol: float, figures: bool) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())
    assert tuple(metrics) == MODELS_2D
    for m in metrics.values():
        assert len(m["rel_l2_per_frame"]) == 25 and all(v > 0 for v in m["rel_l2_per_frame"])
        assert m["rel_l2"] > 0 and m["rel_l2_at_2x_resolution"] > 0
        assert {f"boundary_error_{f}" for f in ("x_lower", "x_upper", "y_lower", "y_upper")} <= set(
            m
        )
    for key in ("boon", "boon_none"):
        m = metrics[key]
        assert m["boundary_error_max"] <= tol, (key, m["boundary_error_max"])
        assert m["boundary_error_max_at_2x_resolution"] <= tol, key
    assert metrics["fno"]["boundary_error"] > 1e-4  # the unconstrained baseline is reported
    for name in ("config.toml", "table.md", "details.json"):
        assert (out / name).is_file(), name
    if figures:
        assert (out / "report.html").is_file()
        for name in FIGURES:
            assert (out / "figures" / f"{name}.png").stat().st_size > 1000, name
    return metrics


def test_cavity_smoke_cli(tmp_path: Path) -> None:
    out = tmp_path / "cavity"
    res = CliRunner().invoke(
        main, ["boon", "run", "cavity", "--profile", "smoke", "--out", str(out), "--no-progress"]
    )
    assert res.exit_code == 0, res.output
    metrics = _check(out, 0.0, figures=True)
    assert (
        "vorticity_rel_l2" in metrics["boon"]
        and len(metrics["boon"]["vorticity_rel_l2_per_frame"]) == 25
    )
    table = (out / "table.md").read_text()
    assert "BOON rel. L2 <= FNO rel. L2 at" in table and "boon_none rel. L2 <= FNO" in table
    assert "| frame | boon_none − fno | boon − fno |" in table  # paired differences
    assert (out / "command.txt").read_text().startswith("pcml ")  # sys.argv under CliRunner


def test_wave2d_smoke(tmp_path: Path) -> None:
    cfg = default_config("wave2d", "smoke", True)
    metrics = run_2d(cfg, tmp_path, progress=False, figures=False, log=lambda s: None)
    on_disk = _check(tmp_path, 1e-5, figures=False)
    assert on_disk["boon"]["rel_l2"] == metrics["boon"]["rel_l2"]
    assert "boundary_error_hi_order" in metrics["boon"]
    # wall-clock seconds live in details.json and the table, not in metrics.json: a second run
    # of the same config from scratch writes the same metrics.json, bit for bit
    assert not any("train_s" in m for m in on_disk.values())
    details = json.loads((tmp_path / "details.json").read_text())
    assert all(f"train_{k}_s" in details["timings_s"] for k in MODELS_2D)
    assert "| train s |" in (tmp_path / "table.md").read_text()
    again = run_2d(cfg, tmp_path / "again", progress=False, figures=False, log=lambda s: None)
    assert (tmp_path / "again" / "metrics.json").read_bytes() == (
        tmp_path / "metrics.json"
    ).read_bytes()
    assert again == metrics
