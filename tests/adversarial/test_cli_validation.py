"""Adversarial command lines: every user mistake exits 2 with ONE line on stderr naming the
option and the value, before anything is written to ``--out`` (issue 17).

Each case here failed on the code before the issue: a raw traceback (exit 1) after the run
directory and data were written, a multi-line click usage block, a silent run with a nonsense
setting (exit 0), or a hang (``--config /dev/zero``, a FIFO).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from pcml.cli import main

BOON = ["boon", "run", "heat-neumann", "--profile", "smoke", "--no-figures", "--no-progress"]
PC = ["probconserv", "run", "pme", "--profile", "smoke", "--no-figures", "--no-progress"]
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")


def _rejects(base: list[str], out: Path, extra: list[str], *named: str) -> str:
    """Run ``pcml <base> --out out <extra>``: exit 2, one stderr line ``Error: ...`` that
    contains every string in ``named``, and ``out`` never created (no work was done)."""
    result = CliRunner().invoke(main, [*base, "--out", str(out), *extra])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for text in named:
        assert text in lines[0], (text, lines[0])
    assert not out.exists(), sorted(p.name for p in out.iterdir())
    return lines[0]


def _rejects_in_subprocess(base: list[str], out: Path, extra: list[str], *named: str) -> None:
    """As :func:`_rejects`, in a child process with a timeout (for inputs that used to hang)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cli = "from pcml.cli import main; main(prog_name='pcml')"
    cmd = [sys.executable, "-c", cli, *base, "--out", str(out), *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr[-2000:]
    for text in named:
        assert text in lines[0], (text, lines[0])
    assert not out.exists()


# ------------------------------------------------------------------------------ device and seed
@NO_CUDA
def test_boon_device_cuda_without_gpu(tmp_path: Path) -> None:
    line = _rejects(BOON, tmp_path / "r", ["--device", "cuda"], "--device cuda", "cuda")
    assert "cpu" in line  # says what is allowed


@NO_CUDA
def test_boon_set_train_device_cuda_without_gpu(tmp_path: Path) -> None:
    _rejects(BOON, tmp_path / "r", ["--set", 'train.device="cuda"'], "--set train.device")


@NO_CUDA
def test_probconserv_device_cuda_without_gpu(tmp_path: Path) -> None:
    _rejects(PC, tmp_path / "r", ["--device", "cuda"], "--device cuda")


@pytest.mark.parametrize("seed", [2**64, 2**64 + 5, 10**30])
def test_boon_seed_too_large(tmp_path: Path, seed: int) -> None:
    _rejects(BOON, tmp_path / "r", ["--seed", str(seed)], "--seed", str(seed), "[0, ")


@pytest.mark.parametrize("seed", [-1, -(2**63)])
def test_boon_negative_seed(tmp_path: Path, seed: int) -> None:
    _rejects(BOON, tmp_path / "r", ["--seed", str(seed)], "--seed", str(seed))


def test_probconserv_negative_seed(tmp_path: Path) -> None:
    _rejects(PC, tmp_path / "r", ["--seed", "-4"], "--seed", "-4")


def test_boon_negative_data_seed(tmp_path: Path) -> None:
    _rejects(BOON, tmp_path / "r", ["--set", "data.seed=-1"], "--set data.seed=-1")


def test_boon_train_seed_too_large(tmp_path: Path) -> None:
    big = str(2**64)
    _rejects(BOON, tmp_path / "r", ["--set", f"train.seed={big}"], "train.seed", big)


# ------------------------------------------------------------------------------ numeric ranges
def test_boon_n_modes_larger_than_the_grid(tmp_path: Path) -> None:
    line = _rejects(
        BOON, tmp_path / "r", ["--set", "model.n_modes=[1000]"], "model.n_modes", "1000"
    )
    assert "33" in line  # the grid size it was compared with


def test_boon_n_modes_just_above_the_grid(tmp_path: Path) -> None:
    # 33 nodes: the rFFT keeps 32 // 2 + 1 = 17 modes; 18 used to fail deep in the forward pass
    _rejects(BOON, tmp_path / "r", ["--set", "model.n_modes=[18]"], "model.n_modes", "18")


@pytest.mark.parametrize("value", ["1e6", "2.0", "nan", "inf", "-1e-3", "0"])
def test_boon_learning_rate_out_of_range(tmp_path: Path, value: str) -> None:
    _rejects(BOON, tmp_path / "r", ["--set", f"train.lr={value}"], f"--set train.lr={value}")


def test_probconserv_learning_rate_out_of_range(tmp_path: Path) -> None:
    _rejects(PC, tmp_path / "r", ["--set", "train.anp.lr=1e6"], "train.anp.lr", "(0, 1]")


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("train.weight_decay=5", "train.weight_decay"),
        ("train.gamma=2", "train.gamma"),
        ("train.grad_clip=-1", "train.grad_clip"),
        ("boon.eps=1e13", "boon.eps"),
        ("boon.reference_tol=0", "boon.reference_tol"),
        ("model.n_layers=0", "model.n_layers"),
        ("data.n_x=3", "data.n_x"),
        ("eval_batch_size=0", "eval_batch_size"),
    ],
)
def test_boon_setting_out_of_range(tmp_path: Path, setting: str, key: str) -> None:
    _rejects(BOON, tmp_path / "r", ["--set", setting], f"--set {key}")


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        ("anp.dropout=1.5", "anp.dropout"),
        ("gp.noise=0", "gp.noise"),
        ("noise_precision=-1", "noise_precision"),
        ("softc_lambda=-2", "softc_lambda"),
    ],
)
def test_probconserv_setting_out_of_range(tmp_path: Path, setting: str, key: str) -> None:
    _rejects(PC, tmp_path / "r", ["--set", setting], f"--set {key}")


def test_boon_epochs_zero(tmp_path: Path) -> None:
    _rejects(BOON, tmp_path / "r", ["--epochs", "0"], "--epochs 0")


def test_boon_unknown_model_name(tmp_path: Path) -> None:
    _rejects(BOON, tmp_path / "r", ["--models", "fno,zzz"], "--models", "zzz")


def test_boon_unknown_key(tmp_path: Path) -> None:
    _rejects(BOON, tmp_path / "r", ["--set", "nope=3"], "--set nope=3", "unknown")


def test_probconserv_unknown_key(tmp_path: Path) -> None:
    _rejects(PC, tmp_path / "r", ["--set", "train.anp.nope=3"], "--set train.anp.nope=3")


# ------------------------------------------------------------------------------ --config
def test_boon_config_out_of_range_value_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "lr.toml"
    cfg.write_text("[train]\nlr = 5.0\n")
    _rejects(BOON, tmp_path / "r", ["--config", str(cfg)], f"--config {cfg}", "train.lr", "5.0")


def test_boon_config_binary_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bin.toml"
    cfg.write_bytes(b"x = 1\n\x00\xff\xfe")
    _rejects(BOON, tmp_path / "r", ["--config", str(cfg)], f"--config {cfg}", "UTF-8")


def test_boon_config_huge_file(tmp_path: Path) -> None:
    cfg = tmp_path / "huge.toml"
    cfg.write_text("# " + "a" * (2 << 20) + "\n")
    _rejects(BOON, tmp_path / "r", ["--config", str(cfg)], f"--config {cfg}", "bytes")


def test_boon_config_not_toml(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[train\nlr = \n")
    _rejects(BOON, tmp_path / "r", ["--config", str(cfg)], f"--config {cfg}", "TOML")


def test_boon_config_dev_zero(tmp_path: Path) -> None:
    _rejects_in_subprocess(BOON, tmp_path / "r", ["--config", "/dev/zero"], "--config /dev/zero")


def test_probconserv_config_dev_zero(tmp_path: Path) -> None:
    _rejects_in_subprocess(PC, tmp_path / "r", ["--config", "/dev/zero"], "--config /dev/zero")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo")
def test_boon_config_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    _rejects_in_subprocess(BOON, tmp_path / "r", ["--config", str(fifo)], f"--config {fifo}")


# ------------------------------------------------------------------------------ --out
def test_boon_out_below_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _rejects(BOON, blocker / "run", [], f"--out {blocker / 'run'}", "not a directory")


def test_boon_out_where_nothing_can_be_created(tmp_path: Path) -> None:
    # /proc refuses new entries even to root (chmod 0500 would not stop root)
    out = Path("/proc/pcml-no-such-run")
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc")
    result = CliRunner().invoke(main, [*BOON, "--out", str(out)])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"--out {out}" in lines[0] and "writable" in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_boon_out_in_a_read_only_directory(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    try:
        _rejects(BOON, ro / "run", [], f"--out {ro / 'run'}", "writable")
    finally:
        ro.chmod(0o700)


def test_probconserv_out_below_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    _rejects(PC, blocker / "run", [], f"--out {blocker / 'run'}")


OPC = ["opc", "run", "stefan", "--profile", "smoke", "--no-figures", "--no-progress"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--set", "uq.dropout=1.5"], "uq.dropout"),
        (["--set", "fno.n_modes=[1000, 3]"], "fno.n_modes"),
        (["--set", "train.lr=1e6"], "train.lr"),
        (["--seed", str(2**64)], "--seed"),
    ],
)
def test_opc_run_refuses_bad_settings_before_any_work(
    tmp_path: Path, argv: list[str], named: str
) -> None:
    """`pcml opc run` goes through the same pre-work validation as the other run commands."""
    _rejects(OPC, tmp_path / "r", argv, named)


@NO_CUDA
def test_opc_device_cuda_without_gpu(tmp_path: Path) -> None:
    _rejects(OPC, tmp_path / "r", ["--device", "cuda"], "--device cuda")
