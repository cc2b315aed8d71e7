"""Smoke runs of every BOON case (pcml.experiments.boon.run): real properties on the test split."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import pcml.experiments.boon.runner as boon_mod
from pcml.experiments.boon.config import MODEL_KEYS, make_config
from pcml.experiments.boon.runner import run

REQUIRED = ("rel_l2", "boundary_error", "rel_l2_at_2x_resolution")


def _check_metrics(metrics: dict, bc_kind: str) -> None:
    assert set(metrics) == set(MODEL_KEYS)
    for key, m in metrics.items():
        assert all(isinstance(m[k], float) for k in REQUIRED), key
        assert m["rel_l2"] > 0 and m["rel_l2_at_2x_resolution"] > 0
    tol = 1e-5 if bc_kind == "neumann" else 0.0
    for key in ("boon", "boon_reference"):
        m = metrics[key]
        # on the test set, at the training resolution and at twice the resolution (the Neumann
        # stencil spacing follows the grid of the evaluation)
        assert m["boundary_error_max"] <= tol, (key, m["boundary_error_max"])
        assert m["boundary_error_max_at_2x_resolution"] <= tol, key
    if bc_kind == "periodic":  # every FNO works on the open grid of one period, as BOON
        assert metrics["fno"]["boundary_error_max"] == 0.0
        assert metrics["fno"]["boundary_error_max_at_2x_resolution"] == 0.0
    else:  # the plain FNO is not constrained: its boundary error is reported and is not zero
        assert metrics["fno"]["boundary_error"] > 1e-4


@pytest.mark.parametrize(
    ("case", "kind", "multi"),
    [
        ("heat-neumann", "neumann", False),
        ("stokes-dirichlet", "dirichlet", False),
        ("burgers-dirichlet", "dirichlet", False),
        ("burgers-periodic", "periodic", False),
        ("heat-neumann", "neumann", True),
        ("stokes-dirichlet", "dirichlet", True),
    ],
)
def test_smoke_run(tmp_path, case: str, kind: str, multi: bool) -> None:
    cfg = make_config(case, "smoke", multi)
    figures = case == "heat-neumann" and not multi  # one figure run keeps the suite fast
    metrics = run(
        cfg, tmp_path, command="pcml boon run", progress=False, figures=figures, log=lambda s: None
    )
    _check_metrics(metrics, kind)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == metrics
    assert (tmp_path / "config.toml").is_file() and (tmp_path / "table.md").is_file()
    assert (tmp_path / "command.txt").read_text().strip() == "pcml boon run"
    details = json.loads((tmp_path / "details.json").read_text())
    assert details["bc_kinds"] == {"x_lower": kind, "x_upper": kind}
    if multi:
        frames = details["per_frame_rel_l2"]
        assert set(frames) == set(MODEL_KEYS) and all(len(v) == 25 for v in frames.values())
    if figures:
        assert (tmp_path / "figures" / "heat_boundary_flux.png").stat().st_size > 1000
        assert (tmp_path / "figures" / "prediction.png").is_file()
    assert len(list((tmp_path / "data").glob("*/data*.h5"))) == 2
    if case == "burgers-dirichlet":  # another config in the same directory is refused
        other = make_config(case, "smoke", multi, None, ["train.lr=0.5"])  # (more epochs resume)
        with pytest.raises(ValueError, match="different config"):
            run(other, tmp_path, progress=False, figures=False, log=lambda s: None)


def test_interrupted_run_resumes_to_the_same_metrics(tmp_path, monkeypatch) -> None:
    """Kill training in the second epoch of the first model; re-running the same config in the
    same directory resumes from the checkpoint and ends with the uninterrupted run's metrics."""
    cfg = make_config(
        "stokes-dirichlet", "smoke", False, None, ["train.epochs=3", "normalize_targets=true"]
    )
    quiet = {"progress": False, "figures": False, "log": lambda s: None}
    clean = run(cfg, tmp_path / "clean", **quiet)

    calls = {"n": 0}
    real_loss = boon_mod.rel_l2_loss

    def flaky(model, batch):
        calls["n"] += 1
        if calls["n"] == 4:  # 2 batches per epoch: epoch 1 done, inside epoch 2
            raise KeyboardInterrupt
        return real_loss(model, batch)

    monkeypatch.setattr(boon_mod, "rel_l2_loss", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path / "cut", **quiet)
    assert not (tmp_path / "cut" / "metrics.json").exists()
    monkeypatch.setattr(boon_mod, "rel_l2_loss", real_loss)
    resumed = run(cfg, tmp_path / "cut", **quiet)
    details = json.loads((tmp_path / "cut" / "details.json").read_text())
    assert details["resumed_from"] == {"fno": 1, "boon": 0, "boon_reference": 0}
    for key in MODEL_KEYS:
        for name in ("rel_l2", "boundary_error", "rel_l2_at_2x_resolution", "final_train_loss"):
            assert resumed[key][name] == clean[key][name], (key, name)
    # metrics.json holds no wall-clock numbers: identical runs write identical files (the
    # training seconds live in details.json and reach table.md from there)
    assert resumed == clean
    clean_text = (tmp_path / "clean" / "metrics.json").read_text()
    assert (tmp_path / "cut" / "metrics.json").read_text() == clean_text
    assert "train_s" not in clean_text
    assert details["timings_s"]["train_fno_s"] >= 0
    # the output scale is a power of two below 1 here (Stokes targets have rms ~0.2), and the
    # Dirichlet values stay exact through it
    assert details["target_scale"] < 1 and math.frexp(details["target_scale"])[0] == 0.5
    assert all(resumed[k]["boundary_error_max"] == 0.0 for k in ("boon", "boon_reference"))
    assert "train s" in (tmp_path / "cut" / "table.md").read_text()


def test_run_directory_from_before_the_new_config_keys_resumes(tmp_path) -> None:
    """A config.toml written before data.n_val / eval_4x / boundary_data / soft_weights /
    split_metrics existed is the same run when the missing keys take their defaults: the run
    resumes (nothing retrained) and writes the same metrics.json, bit for bit; a different
    config in that directory is still refused."""
    cfg = make_config("stokes-dirichlet", "smoke", False)
    first = run(cfg, tmp_path, progress=False, figures=False, log=lambda s: None)
    metrics = (tmp_path / "metrics.json").read_bytes()
    new_keys = ("n_val", "eval_4x", "boundary_data", "soft_weights", "split_metrics")
    path = tmp_path / "config.toml"
    lines = path.read_text().splitlines(keepends=True)
    old = "".join(line for line in lines if not line.startswith(new_keys))
    assert old != path.read_text()
    path.write_text(old)
    again = run(cfg, tmp_path, progress=False, figures=False, log=lambda s: None)
    assert again == first and (tmp_path / "metrics.json").read_bytes() == metrics
    details = json.loads((tmp_path / "details.json").read_text())
    assert set(details["resumed_from"].values()) == {cfg.train.epochs}
    path.write_text(old)
    other = make_config("stokes-dirichlet", "smoke", False, None, ["data.n_val=2"])
    with pytest.raises(ValueError, match="different config"):
        run(other, tmp_path, progress=False, figures=False, log=lambda s: None)


def test_rerunning_a_finished_run_keeps_its_training_seconds(tmp_path: Path) -> None:
    """details.json's train_<model>_s is the time spent training that model, also after a
    re-run that resumed the finished stage (the study's seconds-per-seed table reads it)."""
    from pcml.experiments.boon.config import make_config
    from pcml.experiments.boon.runner import run

    cfg = make_config("heat-neumann", "smoke", False, None, ["train.epochs=2"])
    run(cfg, tmp_path, progress=False, figures=False, log=lambda _: None)
    first = json.loads((tmp_path / "details.json").read_text())["timings_s"]
    run(cfg, tmp_path, progress=False, figures=False, log=lambda _: None)
    again = json.loads((tmp_path / "details.json").read_text())["timings_s"]
    for key in ("train_fno_s", "train_boon_s"):
        assert again[key] >= first[key] > 0, key
