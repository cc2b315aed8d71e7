"""The training loop: learning, logs, validation schedule, keep_best, and exact resumption.

Run as a script (``python test_loop.py RUN_DIR``) this file trains the toy model slowly so that
the interrupt tests can kill it with SIGKILL / SIGINT after its first checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from pcml.train import TrainConfig, eval_step, fit, train_step
from pcml.train.loop import evaluate

W_TRUE = torch.tensor([1.0, -2.0, 0.5, 3.0])


class ToyRegression(Dataset):
    """y = x·w + 0.1 ε with x, ε ~ N(0, 1); ``sign=-1`` flips the relation (an adversarial
    validation set, on which the training progress makes the loss worse)."""

    def __init__(self, n: int, seed: int, sign: float = 1.0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, 4, generator=g)
        self.y = sign * (self.x @ W_TRUE)[:, None] + 0.1 * torch.randn(n, 1, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {"x": self.x[i], "y": self.y[i]}


def make_model() -> nn.Module:
    torch.manual_seed(123)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))


def mse(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    return ((model(batch["x"]) - batch["y"]) ** 2).mean()


CFG = TrainConfig(epochs=8, batch_size=8, lr=5e-2, seed=7, scheduler="step", step_size=3)


def run(run_dir: Path, cfg: TrainConfig = CFG, loss_fn=mse, **kw):
    model = make_model()
    train, val = ToyRegression(32, 0), ToyRegression(16, 1)
    result = fit(model, loss_fn, train, val, cfg, run_dir, "toy", **kw)
    return model, result


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """The subprocess trains on one thread; bitwise comparisons need the same here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def assert_same_run(model_a: nn.Module, hist_a, model_b: nn.Module, hist_b) -> None:
    assert [dict(r) for r in hist_a] == [dict(r) for r in hist_b]  # floats compared exactly
    for (ka, va), (kb, vb) in zip(
        model_a.state_dict().items(), model_b.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb), ka


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("batch_size", -1),
        ("lr", 0.0),
        ("lr", math.nan),
        ("weight_decay", -1e-4),
        ("optimizer", "lbfgs"),
        ("scheduler", "cosine"),
        ("gamma", 1.5),
        ("grad_clip", 0.0),
        ("validate_every", 0),
        ("checkpoint_every", 0),
        ("seed", -1),
        ("device", "tpu"),
    ],
)
def test_train_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"TrainConfig.{field}"):
        TrainConfig(**{field: value})  # type: ignore[arg-type]


def test_fit_learns_writes_log_and_plain_checkpoint(tmp_path: Path) -> None:
    model, res = run(tmp_path)
    assert res.epochs == CFG.epochs and res.resumed_from == 0
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"] / 3
    assert [r["lr"] for r in res.history] == [5e-2] * 3 + [2.5e-2] * 3 + [1.25e-2] * 2
    lines = [json.loads(s) for s in res.log.read_text().splitlines()]
    assert lines == list(res.history)
    ckpt = torch.load(res.checkpoint, weights_only=True)
    assert ckpt["format_version"] == 1 and ckpt["epoch"] == CFG.epochs
    assert ckpt["model"] == "torch.nn.modules.container.Sequential"
    assert ckpt["config"]["train"]["lr"] == CFG.lr and ckpt["config"]["model"] is None
    assert ckpt["history"] == lines and ckpt["metrics"] == lines[-1]
    for key in ("optimizer", "scheduler", "rng", "pcml_version"):
        assert key in ckpt
    for k, v in model.state_dict().items():
        assert torch.equal(ckpt["state_dict"][k], v)
    assert res.best_checkpoint is not None and res.best_epoch is not None


@pytest.fixture
def ctrl_c_raises() -> Iterator[None]:
    """Python's own SIGINT handler (Ctrl-C → KeyboardInterrupt) for the test, restored after: a
    suite started in the background (``cmd &``, nohup, some CI runners) inherits SIGINT
    ignored, and Python then keeps it ignored."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("ctrl_c_raises")
def test_sigint_saves_last_epoch_and_resumes_bitwise(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A real SIGINT (Ctrl-C) inside epoch 5 with checkpoints every 3 epochs: fit saves its
    in-memory snapshot of epoch 4, says how to resume, re-raises; epoch 5 is redone on resume.

    The signal is sent by the loss function itself, so it lands at a known step (the default
    Python handler turns it into KeyboardInterrupt in the main thread at the next bytecode)."""
    cfg = TrainConfig(epochs=7, batch_size=8, lr=1e-2, seed=3, checkpoint_every=3, validate_every=2)
    ref_model, ref = run(tmp_path / "ref", cfg)
    calls = {"n": 0}

    def interrupting(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        calls["n"] += model.training
        if calls["n"] == 4 * 4 + 2:  # 4 steps per epoch: inside epoch 5
            os.kill(os.getpid(), signal.SIGINT)
        return mse(model, batch)

    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut", cfg, loss_fn=interrupting)
    assert "toy: interrupted; epoch 4 saved" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # left as it was
    assert torch.load(tmp_path / "cut/checkpoints/toy-last.pt", weights_only=True)["epoch"] == 4
    model, res = run(tmp_path / "cut", cfg)
    assert res.resumed_from == 4
    assert_same_run(ref_model, ref.history, model, res.history)
    assert [json.loads(s) for s in res.log.read_text().splitlines()] == list(ref.history)


def test_finished_run_returns_stored_result(tmp_path: Path) -> None:
    model, res = run(tmp_path)
    calls = {"n": 0}

    def counting(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        calls["n"] += 1
        return mse(model, batch)

    again_model, again = run(tmp_path, loss_fn=counting)
    assert calls["n"] == 0 and again.resumed_from == CFG.epochs
    assert_same_run(model, res.history, again_model, again.history)


def test_resume_with_other_config_is_a_clear_error(tmp_path: Path) -> None:
    run(tmp_path, TrainConfig(epochs=1, batch_size=8))
    with pytest.raises(ValueError, match=r"differs in \['lr'\].*new --out"):
        run(tmp_path, TrainConfig(epochs=1, batch_size=8, lr=0.5))


def test_keep_best_restores_best_epoch(tmp_path: Path) -> None:
    """With a validation set whose target is -y, learning makes validation worse: the best
    epoch is the first, and keep_best hands back those weights."""
    cfg = TrainConfig(epochs=5, batch_size=8, lr=1e-2, keep_best=True)
    model = make_model()
    val = ToyRegression(16, 1, sign=-1.0)
    res = fit(model, mse, ToyRegression(32, 0), val, cfg, tmp_path, "toy", progress=False)
    assert res.best_epoch == 1 and res.val_loss is not None and res.best_val_loss is not None
    assert res.val_loss > res.best_val_loss
    loader = torch.utils.data.DataLoader(val, batch_size=8)
    assert evaluate(model, mse, loader, torch.device("cpu")) == pytest.approx(res.best_val_loss)


def test_validation_schedule_and_eval_fn(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=5, batch_size=16, validate_every=2)

    def eval_fn(model: nn.Module) -> dict[str, float]:
        assert not model.training and not torch.is_grad_enabled()
        return {"w_norm": float(model[0].weight.norm())}

    _, res = run(tmp_path, cfg, eval_fn=eval_fn)
    assert [("val_loss" in r, "w_norm" in r) for r in res.history] == [
        (False, False),
        (True, True),
        (False, False),
        (True, True),
        (True, True),
    ]


def test_eval_step_has_dropout_off_and_no_grad() -> None:
    model = make_model()
    batch = {"x": torch.randn(64, 4), "y": torch.zeros(64, 1)}
    a, b = eval_step(model, mse, batch), eval_step(model, mse, batch)
    assert torch.equal(a, b) and not a.requires_grad


def test_train_step_clips_gradient_norm() -> None:
    model = nn.Linear(4, 1)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    batch = {"x": 100 * torch.randn(8, 4), "y": torch.zeros(8, 1)}
    train_step(model, mse, batch, opt, grad_clip=0.5)
    with torch.no_grad():
        step = torch.cat(
            [(p - q).flatten() for p, q in zip(model.parameters(), before, strict=True)]
        )
    assert float(step.norm()) == pytest.approx(0.5, rel=1e-5)


def test_non_finite_loss_raises_and_saves_nothing(tmp_path: Path) -> None:
    def nan_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        return mse(model, batch) * math.nan

    with pytest.raises(FloatingPointError, match="epoch 1"):
        run(tmp_path, loss_fn=nan_loss)
    assert not (tmp_path / "checkpoints" / "toy-last.pt").exists()


def test_bad_inputs(tmp_path: Path) -> None:
    class Tuples(ToyRegression):
        def __getitem__(self, i: int):  # type: ignore[override]
            return self.x[i], self.y[i]

    with pytest.raises(ValueError, match="dicts of tensors"):
        fit(make_model(), mse, Tuples(8, 0), None, CFG, tmp_path, "t", progress=False)
    best_without_val = TrainConfig(keep_best=True)
    with pytest.raises(ValueError, match="keep_best"):
        fit(make_model(), mse, ToyRegression(8, 0), None, best_without_val, tmp_path, "t")
    with pytest.raises(ValueError, match="name"):
        fit(make_model(), mse, ToyRegression(8, 0), None, CFG, tmp_path, "a/b")


def test_no_progress_output_without_tty(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run(tmp_path, TrainConfig(epochs=2, batch_size=8), progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# --- interrupting a real process ---------------------------------------------------------

SLOW_CFG = TrainConfig(epochs=12, batch_size=8, lr=1e-2, seed=11, checkpoint_every=2)


def _slow_main(run_dir: Path) -> None:
    """Train; once the first checkpoint exists (written atomically at the end of epoch 2),
    announce it with ``blocked`` and wait to be killed inside epoch 3 — so the parent's SIGKILL
    lands mid-epoch after a checkpoint, every time, without racing the wall clock."""
    torch.set_num_threads(1)
    last = run_dir / "checkpoints" / "toy-last.pt"

    def blocking_mse(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        if last.exists():
            (run_dir / "blocked").touch()
            time.sleep(300)  # the parent kills us long before; never an orphan for long
            os._exit(3)
        return mse(model, batch)

    run(run_dir, SLOW_CFG, loss_fn=blocking_mse, progress=False)


@pytest.mark.slow
def test_sigkilled_process_resumes_to_identical_metrics(tmp_path: Path) -> None:
    """SIGKILL (no handler can run) in the epoch after the first checkpoint; re-running resumes
    from the last atomically written checkpoint and ends bit-identical to an uninterrupted run.
    The child blocks once that checkpoint exists, so the kill point is deterministic."""
    cut = tmp_path / "cut"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, __file__, str(cut)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last = cut / "checkpoints" / "toy-last.pt"
    with one_thread():  # the reference, computed while the subprocess trains
        ref_model, ref = run(tmp_path / "ref", SLOW_CFG, progress=False)
    deadline = time.monotonic() + 240  # a generous bound on a loaded machine, not a race
    while not (cut / "blocked").exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "the child never reached its first checkpoint"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it was killed: {err}"
    epoch = torch.load(last, weights_only=True)["epoch"]
    assert epoch == SLOW_CFG.checkpoint_every  # the first checkpoint, deterministically
    with one_thread():
        model, res = run(cut, SLOW_CFG, progress=False)
    assert res.resumed_from == epoch
    assert_same_run(ref_model, ref.history, model, res.history)


if __name__ == "__main__":
    _slow_main(Path(sys.argv[1]))
