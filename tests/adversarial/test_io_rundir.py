"""Adversarial run directories (#17): concurrent writers, links leaving the run, malformed and
deeply nested JSON, and the demo's background child outliving its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from pcml._locks import RunDirLocked
from pcml.cli import main
from pcml.experiments.probconserv_config import make_config
from pcml.experiments.report import build_report
from pcml.experiments.rundir import MAX_JSON_DEPTH, RunDir, load_json, write_json_atomic

_HOLD = (
    "import sys; from pcml._locks import acquire; acquire(sys.argv[1]); "
    "print('locked', flush=True); sys.stdin.read()"
)


def _holder(folder: Path) -> subprocess.Popen[str]:
    """Another process holding ``folder``'s lock until its stdin closes or it is killed."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGKILL) -> None:
    proc.send_signal(sig)
    proc.wait(timeout=60)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            stream.close()


def test_second_run_into_a_locked_directory_fails_naming_it_and_the_holder(
    tmp_path: Path,
) -> None:
    proc = _holder(tmp_path / "run")
    try:
        with pytest.raises(RunDirLocked, match=rf"run is in use by .*\(pid {proc.pid}\).*--out"):
            RunDir(tmp_path / "run").start(make_config("stefan", "smoke"), "second")
        assert not (tmp_path / "run" / "config.toml").exists()
    finally:
        _stop(proc)
    # the kernel released the killed holder's lock: no stale lock
    RunDir(tmp_path / "run").start(make_config("stefan", "smoke"), "third")


def test_cli_into_a_locked_directory_exits_2_with_one_line_before_any_work(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    proc = _holder(out)
    try:
        args = ["probconserv", "run", "diffusion", "--profile", "smoke", "--out", str(out)]
        result = CliRunner().invoke(main, [*args, "--no-progress", "--no-figures"])
    finally:
        _stop(proc)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(out) in lines[0] and "in use" in lines[0], result.output
    assert not (out / "data").exists() and not (out / "metrics.json").exists()


def test_demo_background_child_dies_with_its_parent(tmp_path: Path) -> None:
    """The demo starts its background run with ``_PRELUDE`` (PR_SET_DEATHSIG): killing the
    demo with SIGKILL sends the child SIGINT (here the child just sleeps after the prelude)."""
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_DEATHSIG is Linux only")
    from pcml.experiments.demo import _PRELUDE

    script = (
        "import os, subprocess, sys, time\n"
        "env = {**os.environ, 'PCML_DEMO_PARENT': str(os.getpid())}\n"
        "code = sys.argv[1] + 'import time; time.sleep(300)'\n"
        "p = subprocess.Popen([sys.executable, '-c', code], env=env)\n"
        "print(p.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    parent = subprocess.Popen(
        [sys.executable, "-c", script, _PRELUDE], stdout=subprocess.PIPE, text=True, env=env
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    # killed before or after the child's prctl: the prelude's getppid check covers the race
    parent.kill()
    parent.wait(timeout=60)
    parent.stdout.close()
    deadline = time.monotonic() + 60  # a wait for the kernel, not a timing assertion
    while time.monotonic() < deadline:
        status = Path(f"/proc/{child}/status")
        if not status.exists() or "\nState:\tZ" in status.read_text():
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail(f"the background child {child} outlived its killed parent")


# ------------------------------------------------------------------------------ links
def _finished_run(path: Path) -> RunDir:
    rd = RunDir(path / "run")
    rd.write_metrics({"a": {"mse": 1.0}})
    return rd


@pytest.mark.parametrize(
    "entry", ["figures/leak.png", "table.md", "config.toml", "command.txt", "logs/m.jsonl"]
)
def test_report_refuses_links_leaving_the_run(tmp_path: Path, entry: str) -> None:
    rd = _finished_run(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0\n")
    (rd.path / entry).symlink_to(secret)
    with pytest.raises(ValueError, match=rf"{entry} leads outside .*run .*secret\.txt"):
        build_report(rd.path)
    assert not rd.report_path.exists()


@pytest.mark.parametrize("folder", ["checkpoints", "logs", "figures", "data"])
def test_run_dir_refuses_a_linked_folder_leaving_it(tmp_path: Path, folder: str) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run" / folder).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match=rf"run/{folder} leads outside"):
        RunDir(tmp_path / "run")


# ------------------------------------------------------------------------------ JSON
@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("metrics.json", '{"a": {"mse": 1.0,}}', r"metrics\.json is not valid JSON \(.* line 1"),
        ("metrics.json", "", r"metrics\.json is not valid JSON"),
        (
            "metrics.json",
            "[" * 100_000,
            rf"metrics\.json: JSON nested deeper than {MAX_JSON_DEPTH}",
        ),
        ("metrics.json", "[" * 70 + "]" * 70, r"metrics\.json: JSON nested deeper"),
        ("figures/captions.json", "{'a': 1}", r"captions\.json is not valid JSON"),
        ("logs/m.jsonl", '{"epoch": 1}\n{"epoch": 2', r"m\.jsonl is not valid JSON"),
    ],
)
def test_report_on_bad_json_names_the_file(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    rd = _finished_run(tmp_path)
    (rd.figures / "f.png").write_bytes(b"\x89PNG\r\n")  # captions are read for figures
    (rd.path / name).write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        build_report(rd.path)


def test_report_cli_on_deep_json_is_one_line_not_recursion_error(tmp_path: Path) -> None:
    rd = _finished_run(tmp_path)
    rd.metrics_path.write_text("{" + '"a":{' * 5000 + "}" * 5001)
    result = CliRunner().invoke(main, ["report", str(rd.path)])
    assert result.exit_code != 0 and not isinstance(result.exception, RecursionError)
    assert "metrics.json" in result.output and "nested deeper" in result.output


def test_load_json_rejects_non_utf8_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(ValueError, match=r"m\.json: not UTF-8"):
        load_json(path)
    write_json_atomic(path, {"a": [[1]]})
    assert load_json(path) == {"a": [[1]]}


# ------------------------------------------------------------------ CLI: one line, not a traceback
_PC = ["probconserv", "run", "diffusion", "--profile", "smoke", "--no-progress", "--no-figures"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pc") / "run"
    result = CliRunner().invoke(main, [*_PC, "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst, symlinks=True)
    return dst


def test_cli_resume_with_a_corrupt_checkpoint_is_one_line_naming_it(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path / "run")
    ckpt = sorted((out / "checkpoints").glob("*-last.pt"))[0]
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    result = CliRunner().invoke(main, [*_PC, "--out", str(out)])
    assert result.exit_code == 1, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("Error")]
    assert len(lines) == 1 and ckpt.name in lines[0] and "mv " in lines[0], result.output
    assert "Traceback" not in result.output and "weights_only" not in result.output


def test_cli_another_config_in_the_same_out_exits_2_with_one_line(
    finished: Path, tmp_path: Path
) -> None:
    out = _copy(finished, tmp_path / "run")
    result = CliRunner().invoke(main, [*_PC, "--out", str(out), "--seed", "5"])
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "different config" in lines[0] and "seed" in lines[0]


def test_cli_resume_on_another_device_is_not_refused(finished: Path, tmp_path: Path) -> None:
    out = _copy(finished, tmp_path / "run")
    result = CliRunner().invoke(main, [*_PC, "--out", str(out), "--device", "auto"])
    assert result.exit_code == 0, result.output
    assert 'device = "auto"' in (out / "config.toml").read_text(encoding="utf-8")


def test_cli_linked_checkpoints_leaving_the_run_exit_2(tmp_path: Path) -> None:
    out, outside = tmp_path / "run", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "checkpoints").symlink_to(outside)
    result = CliRunner().invoke(main, [*_PC, "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "checkpoints leads outside" in result.output and list(outside.iterdir()) == []
