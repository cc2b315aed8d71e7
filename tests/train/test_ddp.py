"""DDP under ``torchrun``: a 2-process gloo run on CPU equals the 1-process run.

``batch_size`` is the global batch: each of the 2 ranks takes every other index of the same
seeded permutation (``DistributedSampler``), so rank r's step-k batch is ``perm[8k + r :: 2]``
up to ``8k + 8`` and the union over ranks is exactly the 1-process batch ``perm[8k : 8k + 8]``.
DDP averages the two half-batch gradients, which equals the full-batch gradient of the mean
loss. The loss trajectories therefore agree up to float32 summation order.

Run as a script under torchrun (``torchrun --nproc_per_node=2 test_ddp.py OUT``) this file
trains the toy model and saves each rank's final parameters.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from pcml.train import TrainConfig, fit


def ddp_skip_reason() -> str | None:
    """Why a 2-process gloo run cannot start here (None: it can): torch without distributed or
    gloo, no ``torch.distributed.run`` (torchrun), or no loopback interface ``lo`` for
    ``GLOO_SOCKET_IFNAME``. Shared with the CLI's torchrun test."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        return "this torch build has no distributed/gloo support"
    if importlib.util.find_spec("torch.distributed.run") is None:
        return "torchrun (torch.distributed.run) is not available"
    try:
        names = {name for _, name in socket.if_nameindex()}
    except OSError as err:  # pragma: no cover - platform dependent
        return f"cannot list network interfaces: {err}"
    if "lo" not in names:
        return f"no loopback interface 'lo' for GLOO_SOCKET_IFNAME (interfaces: {sorted(names)})"
    return None


NEEDS_DDP = pytest.mark.skipif(ddp_skip_reason() is not None, reason=str(ddp_skip_reason()))

CFG = TrainConfig(epochs=4, batch_size=8, lr=2e-2, seed=5, device="cpu", checkpoint_every=2)


class _DictData(TensorDataset):
    def __getitem__(self, i: int) -> dict[str, Tensor]:  # type: ignore[override]
        x, y = super().__getitem__(i)
        return {"x": x, "y": y}


def _data(n: int, seed: int) -> _DictData:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = torch.sin(x.sum(dim=1, keepdim=True)) + 0.05 * torch.randn(n, 1, generator=g)
    return _DictData(x, y)


def _model() -> nn.Module:
    torch.manual_seed(99)
    return nn.Sequential(nn.Linear(3, 32), nn.Tanh(), nn.Linear(32, 1))


def _mse(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    return ((model(batch["x"]) - batch["y"]) ** 2).mean()


def _train(out: Path):
    model = _model()
    res = fit(model, _mse, _data(32, 0), _data(16, 1), CFG, out, "toy", progress=False)
    return model, res


def _worker_main(out: Path) -> None:
    torch.set_num_threads(1)
    model, res = _train(out)
    rank = int(os.environ["RANK"])
    torch.save(model.state_dict(), out / f"rank{rank}.pt")
    (out / f"rank{rank}.json").write_text(json.dumps([dict(r) for r in res.history]))


@pytest.mark.slow
@NEEDS_DDP
def test_two_process_gloo_run_matches_single_process(tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    env.pop("WORLD_SIZE", None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    proc = subprocess.run(
        [*cmd, __file__, str(out)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    states = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), f"ranks disagree on {key}"
    histories = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert histories[0] == histories[1]  # losses all-reduced / evaluated identically

    # only rank 0 wrote: one checkpoint pair, one log with one line per epoch
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["toy-best.pt", "toy-last.pt"]
    ckpt = torch.load(out / "checkpoints" / "toy-last.pt", weights_only=True)
    assert ckpt["epoch"] == CFG.epochs
    assert all(torch.equal(v, states[0][k]) for k, v in ckpt["state_dict"].items())
    assert len((out / "logs" / "toy.jsonl").read_text().splitlines()) == CFG.epochs

    model, single = _train(tmp_path / "single")
    for rec_ddp, rec_one in zip(histories[0], single.history, strict=True):
        assert rec_ddp["train_loss"] == pytest.approx(rec_one["train_loss"], rel=1e-5)
        assert rec_ddp["val_loss"] == pytest.approx(rec_one["val_loss"], rel=1e-5)
    assert single.history[-1]["train_loss"] < single.history[0]["train_loss"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(states[0][key], value, rtol=1e-5, atol=1e-6)


README = Path(__file__).resolve().parents[2] / "README.md"
#: metrics.json of a 2-process run vs 1 process: float32 summation order only (measured 2.5e-8
#: relative; boundary errors at round-off, ~1e-15, differ absolutely). Documented in the README.
DDP_RTOL, DDP_ATOL = 1e-5, 1e-12


def _readme_torchrun() -> list[str]:
    lines = [line for line in README.read_text().splitlines() if line.startswith("torchrun ")]
    assert len(lines) == 1, f"README must document one torchrun command, found {lines}"
    return shlex.split(lines[0])


def _close(a: object, b: object, key: str = "") -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), key
        for k in a:
            _close(a[k], b[k], f"{key}.{k}")
    elif isinstance(a, float | int) and not isinstance(a, bool):
        assert b == pytest.approx(a, rel=DDP_RTOL, abs=DDP_ATOL), key
    else:
        assert a == b, key


@pytest.mark.slow
@NEEDS_DDP
def test_readme_torchrun_command_equals_one_process(tmp_path: Path) -> None:
    """The README's multi-process command, run as written (2 gloo ranks, ``python -m pcml``),
    writes the same metrics.json as one process within the documented tolerance, prints the
    table and every log line once, and leaves nothing of rank 1 behind."""
    argv = _readme_torchrun()
    assert argv[:5] == ["torchrun", "--standalone", "--nproc_per_node=2", "-m", "pcml"]
    args = argv[5:]
    at = args.index("--out") + 1
    ddp_args, one_args = list(args), list(args)
    ddp_args[at], one_args[at] = str(tmp_path / "ddp"), str(tmp_path / "one")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo", "TMPDIR": str(scratch)}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(name, None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", *argv[1:3], "-m", "pcml"]
    ddp = subprocess.run(
        [*torchrun, *ddp_args], env=env, capture_output=True, text=True, timeout=600
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = subprocess.run(
        [sys.executable, "-m", "pcml", *one_args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-3000:]

    m_ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    m_one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    _close(m_one, m_ddp)
    # one table on stdout, as in the 1-process run; every log line once
    assert ddp.stdout.count("| model |") == one.stdout.count("| model |") == 1
    log_lines = [line for line in one.stderr.splitlines() if ": " in line]
    assert log_lines
    for line in log_lines:
        head = line.split(" in ")[0]  # "fno: 2 epochs" (the seconds differ)
        assert sum(x.startswith(head) for x in ddp.stderr.splitlines()) == 1, head
    # rank 1 wrote nothing into the run directory and cleaned its scratch directory
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == sorted(
        p.name for p in (tmp_path / "one").iterdir()
    )
    assert not list(scratch.glob("pcml-rank*")), list(scratch.iterdir())  # (torch's own stay)


def test_skip_reason_names_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ``lo`` or torchrun is missing the DDP tests skip with that reason, never fail."""
    monkeypatch.setattr(socket, "if_nameindex", lambda: [(1, "eth0")])
    assert "loopback interface 'lo'" in str(ddp_skip_reason())
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch.distributed.run" else real_find_spec(name, *a),
    )
    assert "torchrun" in str(ddp_skip_reason())


if __name__ == "__main__":
    _worker_main(Path(sys.argv[1]))
