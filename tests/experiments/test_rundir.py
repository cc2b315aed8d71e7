"""RunDir.start: a run directory holds one config; every runner refuses to mix two."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pcml.experiments.boon.config import default_config
from pcml.experiments.boon.config import make_config as boon_config
from pcml.experiments.boon.runner import run as run_2d
from pcml.experiments.boon.runner import run as run_boon
from pcml.experiments.config import to_toml
from pcml.experiments.probconserv import run as run_probconserv
from pcml.experiments.probconserv_config import make_config as probconserv_config
from pcml.experiments.rundir import RunDir


def test_start_writes_config_and_command_and_resumes_the_same_config(tmp_path: Path) -> None:
    cfg = probconserv_config("stefan", "smoke")
    rd = RunDir(tmp_path / "run")
    rd.start(cfg, "pcml probconserv run stefan")
    assert rd.config_path.read_text(encoding="utf-8") == to_toml(cfg)
    assert rd.command == "pcml probconserv run stefan"
    rd.start(cfg)  # the same config again: a resume, command.txt is kept
    assert rd.command == "pcml probconserv run stefan"


def test_start_refuses_a_different_config_and_leaves_the_directory_alone(tmp_path: Path) -> None:
    cfg = probconserv_config("stefan", "smoke")
    rd = RunDir(tmp_path / "run")
    rd.start(cfg, "first")
    other = probconserv_config("stefan", "smoke", overrides=["seed=1"])
    with pytest.raises(ValueError, match="different config") as err:
        rd.start(other, "second")
    assert str(rd.path) in str(err.value) and "--out" in str(err.value)
    assert rd.config_path.read_text(encoding="utf-8") == to_toml(cfg)
    assert rd.command == "first"


def _probconserv(out: Path, seed: int) -> tuple[Any, Callable[..., Any]]:
    return probconserv_config("diffusion", "smoke", overrides=[f"seed={seed}"]), run_probconserv


def _boon(out: Path, seed: int) -> tuple[Any, Callable[..., Any]]:
    return boon_config("heat-neumann", "smoke", False, None, [f"seed={seed}"]), run_boon


def _boon2d(out: Path, seed: int) -> tuple[Any, Callable[..., Any]]:
    return replace(default_config("wave2d", "smoke", True), seed=seed), run_2d


@pytest.mark.parametrize("make", [_probconserv, _boon, _boon2d], ids=["probconserv", "boon", "2d"])
def test_every_runner_refuses_a_directory_of_another_config(
    make: Callable[[Path, int], tuple[Any, Callable[..., Any]]], tmp_path: Path
) -> None:
    """Before any data, training or output: the saved config and command stay as they were."""
    first, runner = make(tmp_path, 0)
    second, _ = make(tmp_path, 1)
    RunDir(tmp_path).start(first, "first")
    with pytest.raises(ValueError, match="different config"):
        runner(second, tmp_path, command="second", progress=False, figures=False, log=print)
    assert (tmp_path / "config.toml").read_text(encoding="utf-8") == to_toml(first)
    assert (tmp_path / "command.txt").read_text(encoding="utf-8") == "first\n"
    assert not (tmp_path / "data").exists() and not (tmp_path / "metrics.json").exists()
