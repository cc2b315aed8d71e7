"""Interrupting ``pcml probconserv run`` / ``pcml boon run`` (SIGINT, then SIGKILL) and re-running
the same command resumes from the last checkpoint and ends with the uninterrupted run's metrics.

Every run is a real subprocess of the ``pcml`` command (smoke profile, a few more epochs for the
second trained model). To interrupt at a known place instead of racing the training loop, the
interrupted runs start through a tiny bootstrap that calls the same click ``main`` with the same
arguments but pauses ``pcml.train.loop.train_step`` once the gated model's log holds ``k``
finished epochs (so ``{model}-last.pt`` of epoch ``k`` is on disk); the test waits for the
pause marker and then sends the signal. The bootstrap also records how many epochs the gated
model had finished when this process first trained, i.e. where it resumed from.

Sequence per runner: run A pauses after epoch 1 of the gated model → SIGINT (Ctrl-C: the loop
saves and re-raises, the command exits non-zero); run B (same command) resumes from epoch 1 and
pauses after epoch 2 → SIGKILL; run C (the plain command) resumes from epoch 2 and finishes. Its
metrics.json must equal the clean run's, and its run directory must be complete.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

_BOOT = """
import json, os, signal, sys, time
import pcml.train.loop as loop

# Ctrl-C as in a terminal, also when the test runs in a background job (SIGINT ignored there,
# and an ignored signal is inherited by child processes)
signal.signal(signal.SIGINT, signal.default_int_handler)

log, k, marker = os.environ["GATE_LOG"], int(os.environ["GATE_EPOCHS"]), os.environ["GATE_MARK"]
real, first = loop.train_step, []

def lines():
    try:
        with open(log, encoding="utf-8") as fh:
            return sum(1 for line in fh if line.strip())
    except FileNotFoundError:
        return 0

def gated(*args, **kwargs):
    n = lines()
    if not first:
        first.append(n)
    if n >= k:
        with open(marker + ".tmp", "w", encoding="utf-8") as fh:
            json.dump({"first_step_after_epochs": first[0], "paused_after_epochs": n}, fh)
        os.replace(marker + ".tmp", marker)
        time.sleep(120)
    return real(*args, **kwargs)

loop.train_step = gated
from pcml.cli import main
sys.argv = ["pcml", *sys.argv[1:]]
main(prog_name="pcml")
"""

# runner -> (arguments after `pcml`, gated model, where that model's resume point is recorded)
_CASES = {
    "probconserv": (
        [
            "probconserv",
            "run",
            "stefan",
            "--profile",
            "smoke",
            "--methods",
            "anp,probconserv_anp,ensemble,probconserv_ensemble",
            "--set",
            "train.ensemble.epochs=3",
        ],
        "ensemble",
    ),
    "boon": (
        [
            "boon",
            "run",
            "heat-neumann",
            "--profile",
            "smoke",
            "--models",
            "fno,boon",
            "--set",
            "train.epochs=3",
        ],
        "boon",
    ),
}
_REQUIRED = ("config.toml", "metrics.json", "report.html", "command.txt", "table.md")
# wall-clock seconds stored next to the metrics (not a result; they differ between runs)
_CLOCK_KEYS = ("train_s",)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["MPLBACKEND"] = "Agg"
    return env


def _pcml() -> list[str]:
    script = Path(sys.executable).with_name("pcml")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from pcml.cli import main; sys.exit(main())"]


def _start(args: list[str], out: Path, **env: str) -> subprocess.Popen[str]:
    cmd = [*_pcml(), *args, "--out", str(out), "--no-progress"]
    if env:
        cmd = [sys.executable, "-c", _BOOT, *cmd[len(_pcml()) :]]
    return subprocess.Popen(
        cmd,
        env={**_env(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _interrupt(args: list[str], out: Path, model: str, epochs: int, sig: int) -> dict:
    """Run the gated command until ``model`` finished ``epochs`` epochs, then send ``sig``."""
    marker = out.parent / f"{out.name}-pause-{epochs}.json"
    log = out / "logs" / f"{model}.jsonl"
    proc = _start(args, out, GATE_LOG=str(log), GATE_EPOCHS=str(epochs), GATE_MARK=str(marker))
    deadline = time.monotonic() + 300
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before pausing:\n{proc.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the run did not reach the pause point within 300 s")
        time.sleep(0.05)
    assert (out / "checkpoints" / f"{model}-last.pt").is_file()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:  # Ctrl-C: the loop saves the last finished epoch, then click aborts
        assert proc.returncode != 0
        assert f"{model}: interrupted; epoch {epochs} saved" in err, err[-3000:]
    assert not (out / "metrics.json").exists()
    return dict(json.loads(marker.read_text()))


def _resumed_from(runner: str, out: Path) -> dict[str, int]:
    if runner == "probconserv":
        t = json.loads((out / "timings.json").read_text())
        return {k[6:-13]: v for k, v in t.items() if k.endswith("_resumed_from")}
    return dict(json.loads((out / "details.json").read_text())["resumed_from"])


def _without_clock(metrics: dict) -> dict:
    if not isinstance(metrics, dict):
        return metrics
    return {k: _without_clock(v) for k, v in metrics.items() if k not in _CLOCK_KEYS}


@pytest.mark.slow
@pytest.mark.parametrize("runner", sorted(_CASES))
def test_interrupted_cli_run_resumes_to_identical_metrics(runner: str, tmp_path: Path) -> None:
    args, model = _CASES[runner]
    clean = _start([*args, "--no-figures"], tmp_path / "clean")  # runs alongside A and B
    out = tmp_path / "cut"

    a = _interrupt(args, out, model, 1, signal.SIGINT)
    assert a == {"first_step_after_epochs": 0, "paused_after_epochs": 1}
    b = _interrupt(args, out, model, 2, signal.SIGKILL)
    assert b == {"first_step_after_epochs": 1, "paused_after_epochs": 2}  # B resumed from 1

    final = subprocess.run(
        [*_pcml(), *args, "--out", str(out), "--no-progress"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert final.returncode == 0, final.stderr[-3000:]
    _, err = clean.communicate(timeout=600)
    assert clean.returncode == 0, err[-3000:]

    resumed = _resumed_from(runner, out)
    assert resumed[model] == 2, resumed  # C resumed from the SIGKILLed run's last checkpoint
    first = next(iter(resumed))
    assert first != model and resumed[first] >= 1  # the finished first model was not retrained

    got = json.loads((out / "metrics.json").read_text())
    want = json.loads((tmp_path / "clean" / "metrics.json").read_text())
    assert _without_clock(got) == _without_clock(want)  # bit for bit (JSON round trip)
    assert got.keys() == want.keys()

    # the resumed run directory is complete: files, checkpoints, logs, PNG figures, report
    for name in _REQUIRED:
        assert (out / name).is_file(), name
    tokens = shlex.split((out / "command.txt").read_text())
    assert tokens[0] == "pcml" and set(args) | {str(out)} <= set(tokens), tokens
    assert sorted(p.name for p in (out / "checkpoints").glob("*-last.pt"))
    pngs = sorted((out / "figures").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(pngs)
    assert "<script src" not in html and 'href="http' not in html  # self-contained
