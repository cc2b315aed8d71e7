"""A plain PyTorch training loop: explicit ``train_step``/``eval_step``, resumable checkpoints.

One optimisation step minimises the mini-batch loss ``L(θ) = loss_fn(model_θ, batch)``::

    θ ← opt_step(θ, ∇θ L(θ))      (gradient norm clipped to ``grad_clip`` when set)

Reproducibility, which is the point of this module:

* the data order of epoch ``e`` is ``randperm(n, generator=Generator().manual_seed(seed + e))``
  (``DistributedSampler``'s rule, also with one process), and the global torch RNG (dropout,
  latent samples drawn inside ``loss_fn``) is reseeded from ``(seed, e, rank)`` at the start of
  every epoch. Nothing depends on how many epochs ran in *this* process, so a run resumed from
  its last checkpoint reproduces the uninterrupted run bit for bit;
* checkpoints (:mod:`pcml.train.checkpoint`) are plain data, written atomically; ``fit`` resumes
  from ``{run_dir}/checkpoints/{name}-last.pt`` when its stored configuration matches, and a
  finished run called again returns its stored result at once. "Matches" ignores
  :data:`RESUME_FREE` (``device``, ``num_workers``, ``checkpoint_every``: they cannot change the
  weights) and lets ``epochs`` grow: training longer in place continues from the last
  checkpoint to the weights of an uninterrupted run of the new length. A checkpoint that cannot
  be read or holds NaN/inf raises :class:`~pcml.train.checkpoint.CheckpointError` naming it and
  how to retrain the stage (``on_corrupt="move_aside"`` does so: the file is renamed
  ``*.corrupt-<time>`` and the stage starts over). Checkpoints and logs are never written
  through a symbolic link that leads out of ``run_dir``;
* Ctrl-C (``KeyboardInterrupt``) saves the state of the last completed epoch before re-raising,
  so nothing finished is lost.

Under ``torchrun`` (``WORLD_SIZE > 1``) the model is wrapped in DDP, each rank sees
``batch_size / world_size`` samples per step (so the *global* batch, and therefore the loss
trajectory, does not depend on the number of processes), and only rank 0 writes checkpoints,
logs and the progress bar. ``loss_fn`` must call the model through ``model(...)`` so that DDP
synchronises the gradients. Validation and ``eval_fn`` run on every rank on the full
validation set (the parameters are identical on all ranks, so are the results).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from .checkpoint import (
    CheckpointError,
    atomic_write,
    check_inside,
    clone_state,
    load_checkpoint,
    move_aside,
    qualified_name,
    save_checkpoint,
)
from .distributed import DistInfo, all_reduce_sum, barrier, setup_distributed

LossFn = Callable[[nn.Module, dict[str, Tensor]], Tensor]
EvalFn = Callable[[nn.Module], Mapping[str, float]]

_OPTIMIZERS = ("adam", "adamw", "sgd")
_SCHEDULERS = ("none", "step")
_DEVICES = ("auto", "cpu", "cuda")
_RESERVED = ("epoch", "train_loss", "val_loss", "lr")

RESUME_FREE = ("device", "num_workers", "checkpoint_every")
"""Settings that are not part of a run's identity: a run resumes when only they change."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Optimisation settings. ``batch_size`` is the global batch (split over DDP ranks);
    ``scheduler="step"`` multiplies the learning rate by ``gamma`` every ``step_size`` epochs;
    validation and checkpoints happen every ``validate_every`` / ``checkpoint_every`` epochs
    and always after the last one; ``{name}-best.pt`` is written whenever the validation loss
    improves, and ``keep_best`` loads those weights into the model at the end. ``device``:
    "auto" (GPU when available), "cpu" or "cuda"."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    scheduler: str = "none"
    step_size: int = 100
    gamma: float = 0.5
    seed: int = 0
    validate_every: int = 1
    checkpoint_every: int = 1
    grad_clip: float | None = None
    keep_best: bool = False
    num_workers: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "step_size", "validate_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig.{name} must be an integer >= 1, got {value!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"TrainConfig.seed must be an integer >= 0, got {self.seed!r}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"TrainConfig.num_workers must be >= 0, got {self.num_workers!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"TrainConfig.lr must be a finite number > 0, got {self.lr!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if not (math.isfinite(self.gamma) and 0 < self.gamma <= 1):
            raise ValueError(f"TrainConfig.gamma must be in (0, 1], got {self.gamma!r}")
        clip = self.grad_clip
        if clip is not None and not (math.isfinite(clip) and clip > 0):
            raise ValueError(f"TrainConfig.grad_clip must be None or > 0, got {self.grad_clip!r}")
        for name, allowed in (
            ("optimizer", _OPTIMIZERS),
            ("scheduler", _SCHEDULERS),
            ("device", _DEVICES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"TrainConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if not isinstance(self.keep_best, bool):
            raise ValueError(f"TrainConfig.keep_best must be a bool, got {self.keep_best!r}")


@dataclass(frozen=True, slots=True)
class TrainResult:
    """Outcome of :func:`fit`. ``history`` holds one record per completed epoch with keys
    ``epoch``, ``train_loss``, ``lr`` and, on validation epochs, ``val_loss`` plus the
    ``eval_fn`` metrics. ``resumed_from`` is the epoch the run continued from (0: fresh;
    ``epochs``: the run had already finished and nothing was trained)."""

    epochs: int
    train_loss: float
    val_loss: float | None
    best_epoch: int | None
    best_val_loss: float | None
    history: tuple[dict[str, float], ...]
    resumed_from: int
    checkpoint: Path
    best_checkpoint: Path | None
    log: Path

    @property
    def metrics(self) -> dict[str, float]:
        """The record of the last epoch."""
        return dict(self.history[-1])


@dataclass(slots=True)
class _State:
    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_val: float | None = None


def train_step(
    model: nn.Module,
    loss_fn: LossFn,
    batch: dict[str, Tensor],
    optimizer: torch.optim.Optimizer,
    grad_clip: float | None = None,
) -> Tensor:
    """One optimiser step on ``batch``; returns the detached scalar loss (no host sync)."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model, batch)
    if loss.ndim != 0:
        raise ValueError(f"loss_fn must return a scalar tensor, got shape {tuple(loss.shape)}")
    loss.backward()
    if grad_clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def eval_step(model: nn.Module, loss_fn: LossFn, batch: dict[str, Tensor]) -> Tensor:
    """The loss on ``batch`` in eval mode (dropout off) without gradients."""
    model.eval()
    return loss_fn(model, batch).detach()


def _to_device(batch: Any, device: torch.device) -> dict[str, Tensor]:
    if not isinstance(batch, Mapping) or not batch:
        raise ValueError(
            f"datasets must yield dicts of tensors (dict[str, Tensor]), got {type(batch).__name__}"
        )
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _batch_len(batch: Mapping[str, Tensor]) -> int:
    return int(next(iter(batch.values())).shape[0])


def evaluate(model: nn.Module, loss_fn: LossFn, loader: DataLoader, device: torch.device) -> float:
    """Sample-weighted mean of ``eval_step`` over ``loader``."""
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    for raw in loader:
        batch = _to_device(raw, device)
        n = _batch_len(batch)
        total += eval_step(model, loss_fn, batch).double() * n
        count += n
    return float(total) / max(count, 1)


def _derive_seed(*parts: int) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model has no trainable parameters")
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=0.9)


def _plain(obj: Any) -> Any:
    if obj is None:
        return None
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    raise ValueError(f"model_config must be a dataclass, a mapping or None, got {type(obj)}")


def _listify(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _listify(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_listify(v) for v in obj]
    return obj


def _canon(obj: Any) -> str:
    return json.dumps(_listify(obj), sort_keys=True, default=str)


def _check_resumable(
    ckpt: dict[str, Any], config: dict[str, Any], model: nn.Module, path: Path
) -> None:
    problems = []
    if ckpt["model"] != qualified_name(model):
        problems.append(f"model {ckpt['model']} != {qualified_name(model)}")
    for part in ("train", "model"):
        old, new = ckpt["config"].get(part), config[part]
        if part == "train" and isinstance(old, Mapping) and isinstance(new, Mapping):
            old = {k: v for k, v in old.items() if k not in RESUME_FREE}
            new = {k: v for k, v in new.items() if k not in RESUME_FREE}
            if isinstance(old.get("epochs"), int) and old["epochs"] <= new.get("epochs", -1):
                old = {**old, "epochs": new["epochs"]}  # training longer in place
        if _canon(old) != _canon(new):
            keys = sorted(
                k
                for k in set(old or {}) | set(new or {})
                if _canon((old or {}).get(k)) != _canon((new or {}).get(k))
            )
            problems.append(f"{part} config differs in {keys or 'its type'}")
    if problems:
        raise ValueError(
            f"cannot resume from {path}: it was written by a different run ({'; '.join(problems)})."
            f" Use a new --out directory, or delete {path} to start this run over."
        )
    missing = [k for k in ("optimizer", "rng", "history") if k not in ckpt]
    if missing:
        raise CheckpointError(path, f"cannot resume: it lacks {missing}")


def _retrain_hint(err: CheckpointError, name: str) -> CheckpointError:
    q = shlex.quote(str(err.path))
    return CheckpointError(
        err.path,
        f"{err.reason}. To retrain '{name}' from scratch, move it aside (mv {q} {q}.corrupt) "
        "and run the same command again (API: fit(..., on_corrupt='move_aside'))",
    )


def _restore_rng(rng: Mapping[str, Any]) -> None:
    torch.set_rng_state(rng["torch"].cpu())
    cuda = rng.get("cuda", [])
    if torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _write_log(path: Path, history: list[dict[str, float]]) -> None:
    atomic_write(path, "".join(json.dumps(rec) + "\n" for rec in history))


def fit(
    model: nn.Module,
    loss_fn: LossFn,
    train_data: Dataset,
    val_data: Dataset | None,
    cfg: TrainConfig,
    run_dir: Path,
    name: str,
    progress: bool = True,
    eval_fn: EvalFn | None = None,
    *,
    model_config: Any = None,
    on_corrupt: str = "raise",
) -> TrainResult:
    """Train ``model`` in place by minimising ``loss_fn(model, batch)`` over ``train_data``.

    ``train_data``/``val_data`` yield ``dict[str, Tensor]`` samples (collated to batches
    ``(batch, ...)``). ``eval_fn(model) -> {metric: float}`` runs on validation epochs in eval
    mode without gradients; its metrics join the epoch record. ``model_config`` (a dataclass or
    mapping) is stored in the checkpoint's ``config["model"]`` so the model can be rebuilt.
    Files: ``run_dir/checkpoints/{name}-last.pt`` (and ``-best.pt``), ``run_dir/logs/{name}.jsonl``.
    ``on_corrupt``: what to do with an unreadable or non-finite last checkpoint, ``"raise"``
    (:class:`~pcml.train.checkpoint.CheckpointError` naming it) or ``"move_aside"`` (rename it
    ``*.corrupt-<time>``, say so on stderr, and train this stage from scratch).
    """
    if on_corrupt not in ("raise", "move_aside"):
        raise ValueError(f"on_corrupt: got {on_corrupt!r}, expected 'raise' or 'move_aside'")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"name must match [A-Za-z0-9_.-]+ (it names files), got {name!r}")
    if len(train_data) == 0:  # type: ignore[arg-type]
        raise ValueError("train_data is empty")
    if cfg.keep_best and val_data is None:
        raise ValueError("TrainConfig.keep_best=True needs val_data to pick the best epoch")
    info = setup_distributed(cfg.device)
    if cfg.batch_size % info.world_size:
        raise ValueError(
            f"TrainConfig.batch_size={cfg.batch_size} must be divisible by WORLD_SIZE="
            f"{info.world_size} (it is the global batch)"
        )
    run_dir = Path(run_dir)
    last_path = run_dir / "checkpoints" / f"{name}-last.pt"
    best_path = run_dir / "checkpoints" / f"{name}-best.pt"
    log_path = run_dir / "logs" / f"{name}.jsonl"
    for folder in (last_path.parent, log_path.parent):
        check_inside(run_dir, folder, "folder")
        folder.mkdir(parents=True, exist_ok=True)
    config = {"train": dataclasses.asdict(cfg), "model": _plain(model_config)}

    model.to(info.device)
    optimizer = _make_optimizer(model, cfg)
    scheduler = (
        torch.optim.lr_scheduler.StepLR(optimizer, cfg.step_size, cfg.gamma)
        if cfg.scheduler == "step"
        else None
    )
    state = _State()
    ckpt = None
    if last_path.exists():
        try:
            ckpt = load_checkpoint(check_inside(run_dir, last_path, "checkpoint"), info.device)
        except FileNotFoundError:
            if on_corrupt == "raise":
                raise
            barrier(info)  # another rank has just moved the corrupt file aside
        except CheckpointError as err:
            if on_corrupt == "raise":
                raise _retrain_hint(err, name) from None
            if info.is_main:
                moved = move_aside(last_path)
                print(f"{name}: {err}; moved to {moved}, retraining", file=sys.stderr)
            barrier(info)
    if ckpt is not None:
        _check_resumable(ckpt, config, model, last_path)
        try:
            model.load_state_dict(ckpt["state_dict"])
        except RuntimeError as err:
            raise CheckpointError(last_path, f"its weights do not fit the model: {err}") from None
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        best = ckpt.get("best") or {}
        state = _State(
            int(ckpt["epoch"]), list(ckpt["history"]), best.get("epoch"), best.get("val_loss")
        )
        _restore_rng(ckpt["rng"])
    resumed_from = state.epoch
    if info.is_main:
        _write_log(log_path, state.history)  # drops lines of epochs the checkpoint lacks

    def payload() -> dict[str, Any]:
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "model": qualified_name(model),
            "config": config,
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "epoch": state.epoch,
            "rng": rng,
            "metrics": dict(state.history[-1]) if state.history else {},
            "history": [dict(r) for r in state.history],
            "best": {"epoch": state.best_epoch, "val_loss": state.best_val},
        }

    if state.epoch < cfg.epochs:
        _run_epochs(
            model,
            loss_fn,
            train_data,
            val_data,
            cfg,
            info,
            state,
            optimizer,
            scheduler,
            eval_fn,
            payload,
            (last_path, best_path, log_path),
            name,
            progress,
        )
    barrier(info)
    if cfg.keep_best and best_path.exists():
        try:
            best_ckpt = load_checkpoint(check_inside(run_dir, best_path, "checkpoint"), info.device)
        except CheckpointError as err:
            raise _retrain_hint(err, name) from None
        model.load_state_dict(best_ckpt["state_dict"])
    last = state.history[-1]
    return TrainResult(
        epochs=state.epoch,
        train_loss=float(last["train_loss"]),
        val_loss=next((r["val_loss"] for r in reversed(state.history) if "val_loss" in r), None),
        best_epoch=state.best_epoch,
        best_val_loss=state.best_val,
        history=tuple(dict(r) for r in state.history),
        resumed_from=resumed_from,
        checkpoint=last_path,
        best_checkpoint=best_path if best_path.exists() else None,
        log=log_path,
    )


def _run_epochs(
    model: nn.Module,
    loss_fn: LossFn,
    train_data: Dataset,
    val_data: Dataset | None,
    cfg: TrainConfig,
    info: DistInfo,
    state: _State,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None,
    eval_fn: EvalFn | None,
    payload: Callable[[], dict[str, Any]],
    paths: tuple[Path, Path, Path],
    name: str,
    progress: bool,
) -> None:
    """The epoch loop of :func:`fit` (separated so ``fit`` reads as setup + result)."""
    last_path, best_path, log_path = paths
    train_model: nn.Module = model
    if info.distributed:
        ids = [info.device.index] if info.device.type == "cuda" else None
        train_model = DistributedDataParallel(model, device_ids=ids)
    sampler: DistributedSampler[Any] = DistributedSampler(
        train_data, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=cfg.seed
    )
    local_batch = cfg.batch_size // info.world_size
    loader = DataLoader(train_data, local_batch, sampler=sampler, num_workers=cfg.num_workers)
    val_loader = (
        None
        if val_data is None
        else DataLoader(val_data, cfg.batch_size, shuffle=False, num_workers=cfg.num_workers)
    )
    show = progress and info.is_main and sys.stderr.isatty()
    steps = len(loader)
    bar = tqdm(total=cfg.epochs * steps, initial=state.epoch * steps, desc=name, disable=not show)
    pending: dict[str, Any] | None = None  # the latest completed epoch not yet on disk
    saved: int | None = state.epoch if last_path.exists() else None
    try:
        for epoch in range(state.epoch, cfg.epochs):
            sampler.set_epoch(epoch)
            torch.manual_seed(_derive_seed(cfg.seed, epoch, info.rank))
            sums = torch.zeros(2, dtype=torch.float64, device=info.device)
            lr = float(optimizer.param_groups[0]["lr"])
            for raw in loader:
                batch = _to_device(raw, info.device)
                loss = train_step(train_model, loss_fn, batch, optimizer, cfg.grad_clip)
                sums[0] += loss.double() * _batch_len(batch)
                sums[1] += _batch_len(batch)
                bar.update(1)
            total, count = all_reduce_sum(sums, info).tolist()
            train_loss = total / count
            if not math.isfinite(train_loss):
                raise FloatingPointError(
                    f"{name}: the training loss is {train_loss} in epoch {epoch + 1}; "
                    "lower TrainConfig.lr or set TrainConfig.grad_clip"
                )
            if scheduler is not None:
                scheduler.step()
            record: dict[str, float] = {"epoch": epoch + 1, "train_loss": train_loss, "lr": lr}
            done = epoch + 1
            improved = False
            if done % cfg.validate_every == 0 or done == cfg.epochs:
                if val_loader is not None:
                    record["val_loss"] = evaluate(model, loss_fn, val_loader, info.device)
                    if state.best_val is None or record["val_loss"] < state.best_val:
                        state.best_epoch, state.best_val = done, record["val_loss"]
                        improved = True
                if eval_fn is not None:
                    model.eval()
                    with torch.no_grad():
                        extra = {k: float(v) for k, v in eval_fn(model).items()}
                    clash = sorted(set(extra) & set(_RESERVED))
                    if clash:
                        raise ValueError(f"eval_fn returned reserved metric names {clash}")
                    record.update(extra)
            state.epoch = done
            state.history.append(record)
            bar.set_description(f"{name} epoch {done}/{cfg.epochs}", refresh=False)
            bar.set_postfix({k: f"{v:.3g}" for k, v in record.items() if k != "epoch"})
            if info.is_main:
                with log_path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(record) + "\n")
            save_now = done % cfg.checkpoint_every == 0 or done == cfg.epochs
            # best before last: a kill in between re-runs this epoch identically on resume and
            # rewrites the same best file, so "best" never points past "last".
            if info.is_main and improved:
                save_checkpoint(best_path, payload())
            if save_now:
                if info.is_main:
                    save_checkpoint(last_path, payload())
                pending, saved = None, done
                barrier(info)
            else:
                pending = clone_state(payload())
    except KeyboardInterrupt:
        if info.is_main:
            if pending is not None:
                save_checkpoint(last_path, pending)
                saved = int(pending["epoch"])
            where = "no completed epoch" if saved is None else f"epoch {saved}"
            print(
                f"\n{name}: interrupted; {where} saved in {last_path}. "
                "Run the same command again to resume from there.",
                file=sys.stderr,
            )
        raise
    finally:
        bar.close()
