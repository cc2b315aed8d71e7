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


# ------------------------------------------------------------------ run identity (#17)
def test_resume_on_another_device_or_with_more_epochs_is_the_same_run(tmp_path: Path) -> None:
    cfg = boon_config("heat-neumann", "smoke", False, None, [])
    rd = RunDir(tmp_path / "run")
    rd.start(cfg, "first")
    for sets in (['train.device="auto"'], ["train.num_workers=2"], ["train.checkpoint_every=5"]):
        other = boon_config("heat-neumann", "smoke", False, None, sets)
        rd.start(other, "second")  # not refused
        assert rd.config_path.read_text(encoding="utf-8") == to_toml(other)  # the latest
    longer = boon_config(
        "heat-neumann", "smoke", False, None, [f"train.epochs={cfg.train.epochs + 5}"]
    )
    rd.start(longer, "longer")
    assert rd.command == "longer"


@pytest.mark.parametrize(
    ("sets", "key"),
    [
        (["seed=3"], "seed"),
        (["train.lr=0.5"], "train.lr"),
        (["train.epochs=1"], r"train.epochs \(fewer"),
        (["data.n_train=7"], "data.n_train"),
    ],
)
def test_identity_changes_are_refused_naming_the_keys(tmp_path: Path, sets: list, key: str) -> None:
    cfg = boon_config("heat-neumann", "smoke", False, None, ["train.epochs=3"])
    rd = RunDir(tmp_path)
    rd.start(cfg)
    with pytest.raises(ValueError, match=rf"different config \(.*config\.toml: {key}"):
        rd.start(boon_config("heat-neumann", "smoke", False, None, ["train.epochs=3", *sets]))


def test_identity_diff_rules() -> None:
    from pcml.experiments.rundir import identity_diff

    old = {"train": {"epochs": 3, "device": "cpu", "lr": 0.1}, "seed": 0}
    assert (
        identity_diff(old, {"train": {"epochs": 9, "device": "cuda", "lr": 0.1}, "seed": 0}) == []
    )
    assert identity_diff(old, {"train": {"epochs": 3, "lr": 0.1}, "seed": 0}) == []
    assert identity_diff(old, {"train": {"epochs": 3, "lr": 0.1}, "seed": 1}) == ["seed"]
    assert identity_diff(old, {"train": {"epochs": 3, "lr": 0.1}}) == ["seed"]
    assert identity_diff({"a": 1}, {"a": 1.0}) == ["a"]  # TOML types are exact


# ------------------------------------------------------------------ files and metrics (#17)
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_run_files_respect_the_umask(tmp_path: Path, umask: int) -> None:
    import os

    old = os.umask(umask)
    try:
        rd = RunDir(tmp_path / "run")
        rd.start(probconserv_config("stefan", "smoke"), "cmd")
        rd.write_metrics({"a": 1.0})
        rd.write_table("| a |\n")
    finally:
        os.umask(old)
    for path in (rd.config_path, rd.command_path, rd.metrics_path, rd.table_path):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_metrics_are_refused_naming_the_metric(tmp_path: Path, bad: float) -> None:
    rd = RunDir(tmp_path)
    with pytest.raises(ValueError, match=r"metrics\.json: metric fno\.rel_l2 is .*non-finite"):
        rd.write_metrics({"fno": {"rel_l2": bad, "n": 3}, "boon": {"rel_l2": 0.1}})
    assert not rd.metrics_path.exists()
    rd.write_metrics({"fno": {"rel_l2": 0.2, "shock": None}})  # None (not applicable) is fine


def test_the_same_process_may_reopen_its_own_run(tmp_path: Path) -> None:
    cfg = probconserv_config("stefan", "smoke")
    a, b = RunDir(tmp_path), RunDir(tmp_path)
    a.start(cfg)
    b.start(cfg)  # the lock is re-entrant within one process (sequential runs, tests)


def test_links_inside_the_run_are_followed(tmp_path: Path) -> None:
    from pcml.experiments.report import build_report

    rd = RunDir(tmp_path / "run")
    rd.write_metrics({"a": {"mse": 1.0}})
    (rd.path / "notes.md").write_text("hello inside\n")
    (rd.path / "table.md").symlink_to(rd.path / "notes.md")
    assert "hello inside" in build_report(rd.path).read_text(encoding="utf-8")


def test_only_rank_0_takes_the_lock_under_torchrun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ranks of one torchrun job share the run directory; a second job does not."""
    from pcml import _locks

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    RunDir(tmp_path).start(probconserv_config("stefan", "smoke"))
    assert str(tmp_path.resolve()) not in _locks._HELD
    monkeypatch.setenv("RANK", "0")
    rd = RunDir(tmp_path)
    rd.start(probconserv_config("stefan", "smoke"))
    assert str(tmp_path.resolve()) in _locks._HELD
    del rd
    assert str(tmp_path.resolve()) not in _locks._HELD  # released with its RunDir


def test_replace_marked_section_replaces_appends_and_keeps_the_rest(tmp_path: Path) -> None:
    """The results pages' generated sections: the text between the markers is replaced, the rest
    of the page is byte-identical, a missing section is appended, a missing file created, and
    running it twice gives the same page."""
    from pcml.experiments.rundir import replace_marked_section

    doc = tmp_path / "page.md"
    s, e = "<!-- x:a:start -->", "<!-- x:a:end -->"
    replace_marked_section(doc, s, e, "first\n")
    assert doc.read_text(encoding="utf-8") == f"{s}\nfirst\n{e}\n"
    head, tail = "# Title\n\nhand-written, kept\n\n", "\n\nafter ($1 \\1 kept)\n"
    doc.write_text(head + f"{s}\nold\nlines\n{e}" + tail, encoding="utf-8")
    replace_marked_section(doc, s, e, "new \\1 $1")
    once = doc.read_text(encoding="utf-8")
    assert once == head + f"{s}\nnew \\1 $1\n{e}" + tail
    replace_marked_section(doc, s, e, "new \\1 $1")
    assert doc.read_text(encoding="utf-8") == once
    s2, e2 = "<!-- x:b:start -->", "<!-- x:b:end -->"
    replace_marked_section(doc, s2, e2, "other")
    assert doc.read_text(encoding="utf-8") == once.rstrip() + f"\n\n{s2}\nother\n{e2}\n"
