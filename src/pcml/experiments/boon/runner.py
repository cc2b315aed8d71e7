r"""The one BOON run loop: data → every model of ``cfg.models`` with identical settings → metrics.

For a case of :mod:`pcml.experiments.boon.cases` and a :class:`BoonConfig`:

1. **Data** (``DIR/data/<hash>/*.h5``, keyed by the config hash of the data settings, reused when
   present) through the case's layout (:mod:`pcml.experiments.boon.layouts`): train, optional
   validation (``n_val``), test (ID), OOD boundary data (``boundary_data = "varied"``), and the
   test trajectories generated at 2× / 4× the resolution.
2. **Models** (:mod:`pcml.experiments.boon.models`): one FNO architecture for all, initialised
   from the same seed, trained on the same data in the same order with the same
   :class:`pcml.train.TrainConfig`. ``fno_soft`` is trained once per weight of
   ``cfg.soft_weights`` (checkpoints ``fno_soft_w<λ>``) and the weight with the lowest
   validation rel. L2 is reported as ``fno_soft`` (``soft_weight`` and every weight's
   ``rel_l2_val_w<λ>`` in its metrics; a weight whose training diverges is logged, recorded as
   ``None`` and excluded); with one weight there is no selection.
3. **Loss**: relative L2 per sample averaged over the batch (2-D wave: per frame,
   :data:`pcml.experiments.boon.cases2d.FRAME_LOSS_2D`), + λ × the boundary penalty for
   ``fno_soft``. With ``normalize_targets`` every model predicts u/s (1-D).
4. **Evaluation** (float64 by default; :mod:`pcml.experiments.boon.metrics`) on the test split, at
   2× (``rel_l2_at_2x_resolution`` and its boundary errors, as before) and, with
   ``split_metrics``, every metric per further split as ``<metric>_<split>`` for the splits
   ``val``, ``ood``, ``2x``, ``4x`` that exist (near-boundary band: the same physical width,
   ``near_boundary_nodes`` × the refinement). ``metrics.json`` = ``{model: {metric: value}}`` (no
   wall-clock numbers: identical runs write identical files), ``details.json`` (timings,
   histories, data floors, per-split grid sizes ``split_n_x``), ``table.md``, figures,
   ``report.html``.

Re-running the same command in the same directory resumes training from the last checkpoints
(``pcml.train.fit``) and recomputes identical metrics; a directory written before a config key
existed resumes too (:func:`_migrate_config`). ``retrain`` (models whose *code* changed while
their config did not, e.g. a better ``boon_extension``): once the directory is verified to hold
this run (:meth:`RunDir.start`: same config, or refused), their checkpoints and logs are renamed
``*.replaced-<UTC time>`` (kept) and they train from scratch; every other model resumes from its
own checkpoint — which ``fit`` accepts only if its train and model config match — and is
re-evaluated, so ``metrics.json`` holds all models again. A changed config is never resumed:
the directory (or the checkpoint) refuses it with the keys that differ.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pcml.experiments.boon.cases import get_case
from pcml.experiments.boon.cases2d import FRAME_LOSS_2D, INCREMENT_POWER
from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.boon.layouts import LAYOUTS, RunData, load_split
from pcml.experiments.boon.metrics import paired_per_frame, rel_l2_per_sample
from pcml.experiments.boon.models import (
    Surrogate2D,
    TensorDictDataset,
    apply_model,
    bc_batch,
    frame_loss,
    frame_rel_l2,
    rel_l2_loss,
    soft_penalty,
)
from pcml.experiments.config import config_hash, from_dict, to_dict, to_toml
from pcml.experiments.rundir import RunDir, write_json_atomic, write_text_atomic
from pcml.models.fno import count_parameters
from pcml.train import fit

__all__ = ["load_split", "predict", "run", "soft_variants"]

Log = Callable[[str], None]
Split = dict[str, Tensor]
#: The per-split metrics written with ``split_metrics`` (``<name>_<split>``).
SPLIT_METRICS: tuple[str, ...] = (
    "rel_l2",
    "rel_l2_se",
    "rel_l2_near_boundary",
    "boundary_error",
    "boundary_error_max",
    "boundary_error_hi_order",
)
#: Refinement factor of each split (the near-boundary band scales with it).
REFINE: dict[str, int] = {"val": 1, "test": 1, "ood": 1, "2x": 2, "4x": 4}


@torch.no_grad()
def predict(model: nn.Module, split: Mapping[str, Tensor], batch: int) -> Tensor:
    """Predictions of ``model`` on a split, in batches, in the model's dtype."""
    model.eval()
    dtype = next(model.parameters()).dtype
    outs = []
    n = int(split["x"].shape[0])
    for i in range(0, n, batch):
        part = {k: v[i : i + batch].to(dtype) for k, v in split.items() if k != "y"}
        outs.append(apply_model(model, part))
    return torch.cat(outs)


def soft_variants(cfg: BoonConfig, key: str) -> list[tuple[str, float | None]]:
    """(checkpoint name, penalty weight) of the trainings of model ``key``: one, except
    ``fno_soft`` with several ``cfg.soft_weights`` (``fno_soft_w<λ>``, selected on validation)."""
    if key != "fno_soft":
        return [(key, None)]
    if len(cfg.soft_weights) == 1:
        return [(key, cfg.soft_weights[0])]
    return [(f"fno_soft_w{w:g}", w) for w in cfg.soft_weights]


def _penalised(
    base: Callable[[nn.Module, dict[str, Tensor]], Tensor], weight: float, data: RunData
) -> Callable[[nn.Module, dict[str, Tensor]], Tensor]:
    names = data.names

    def loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        pred, y = apply_model(model, batch), batch["y"]
        fit_term = (
            frame_rel_l2(pred, y) if base is frame_loss else rel_l2_per_sample(pred, y).mean()
        )
        return fit_term + weight * soft_penalty(pred, y, data.bcs, bc_batch(batch), names).mean()

    return loss


def _earlier_timings(path: Path) -> dict[str, float]:
    """``timings_s`` of an earlier call's details.json in this run directory ({} if none)."""
    if not path.is_file():
        return {}
    try:
        timings = json.loads(path.read_text(encoding="utf-8")).get("timings_s", {})
    except (ValueError, AttributeError):
        return {}
    return {k: float(v) for k, v in timings.items() if isinstance(v, int | float)}


def run(
    cfg: BoonConfig,
    out: Path | str,
    command: str = "",
    progress: bool = True,
    figures: bool = True,
    log: Log = print,
    retrain: tuple[str, ...] = (),
) -> dict[str, dict[str, Any]]:
    """Run the experiment of ``cfg`` in ``out`` (module docstring); returns metrics.json.
    ``retrain``: models of ``cfg.models`` trained again from scratch (module docstring)."""
    t_start = time.perf_counter()
    bad = [k for k in retrain if k not in cfg.models]
    if bad:
        raise ValueError(f"retrain: {bad} are not models of this run {cfg.models}")
    rd = RunDir(out)
    case = get_case(cfg.case)
    layout = LAYOUTS[case.layout]
    _migrate_config(rd, cfg)
    rd.start(cfg, command)  # refuses a directory of another config before anything is moved
    for key in retrain:
        _set_aside(rd, [name for name, _ in soft_variants(cfg, key)], log)
    timings: dict[str, float] = {}
    # training seconds of stages trained by an earlier call (a resumed or finished run would
    # otherwise record only this call's seconds, ~0 for a finished stage)
    earlier = _earlier_timings(rd.path / "details.json")
    t0 = time.perf_counter()
    data = layout.load(cfg, case, rd.path, log)
    timings["data_s"] = time.perf_counter() - t0

    eval_dtype = torch.float64 if cfg.eval_dtype == "float64" else torch.float32
    scale = layout.scale(cfg, data)
    details: dict[str, Any] = {
        "case": cfg.case,
        "multi_step": cfg.multi_step,
        "bc_kinds": data.bc_kinds,
        "bc_source": case.bc_source,
        "config_hash": config_hash(cfg),
        "n_test": cfg.data.n_test,
        "target_scale": scale,
        "split_n_x": {},
        "per_frame_rel_l2": {},
        "rel_l2_per_frame_at_2x_resolution": {},
        "history": {},
        "resumed_from": {},
    }
    metrics: dict[str, dict[str, Any]] = {}
    preds: dict[str, Tensor] = {}
    near = cfg.near_boundary_nodes
    for key in cfg.models:
        candidates: list[tuple[float | None, dict[str, Any], Tensor, float]] = []
        diverged: list[float] = []
        for name, weight in soft_variants(cfg, key):
            model = layout.model(cfg, key, data, scale)
            base = frame_loss if case.layout == "2d" and FRAME_LOSS_2D[cfg.case] else rel_l2_loss
            loss = base if weight is None else _penalised(base, weight, data)
            t0 = time.perf_counter()
            model_config: dict[str, Any] = {
                "model": to_dict(cfg.model), "boon": to_dict(cfg.boon), "key": key,
            }  # fmt: skip
            if getattr(model, "open_dims", ()):
                # part of the checkpoint's identity: an FNO checkpoint trained on the closed
                # periodic grid (the seam) never resumes as the open-grid model
                model_config["open_periodic_dims"] = list(model.open_dims)  # type: ignore[arg-type]
            if isinstance(model, Surrogate2D):
                model_config.update(
                    residual=model.residual, time_power=model.time_power,
                    frame_loss=FRAME_LOSS_2D[cfg.case],
                )  # fmt: skip
                details["residual_in_time"] = model.residual
                details["time_power"] = model.time_power
                details["increment_scaling"] = {p: n for n, p in INCREMENT_POWER.items()}[
                    model.time_power
                ]
                details["frame_loss"] = FRAME_LOSS_2D[cfg.case]
            if weight is not None:
                model_config["soft_weight"] = weight
            try:
                result = fit(
                    model, loss, TensorDictDataset(data.splits["train"]), None, cfg.train,
                    rd.path, name, progress=progress, model_config=model_config,
                )  # fmt: skip
            except FloatingPointError as err:
                if weight is None or len(cfg.soft_weights) == 1:
                    raise
                # one candidate penalty weight diverged: it cannot be selected, the others can
                log(f"{name}: diverged, excluded from the selection ({err})")
                diverged.append(weight)
                continue
            train_s = time.perf_counter() - t0
            timings[f"train_{name}_s"] = train_s + (
                earlier.get(f"train_{name}_s", 0.0) if result.resumed_from else 0.0
            )
            details["resumed_from"][name] = result.resumed_from
            details["history"][name] = [r["train_loss"] for r in result.history]
            log(f"{name}: {result.epochs} epochs in {train_s:.1f} s, loss {result.train_loss:.4g}")

            t0 = time.perf_counter()
            # a fresh copy (BoundaryConditions holds a mappingproxy, which deepcopy cannot copy)
            emodel = layout.model(cfg, key, data, scale)
            emodel.load_state_dict(model.state_dict())
            emodel = emodel.to(eval_dtype)
            pred = predict(emodel, data.splits["test"], cfg.eval_batch_size)
            m = layout.metrics(cfg, data, pred, data.splits["test"], near)
            if "2x" in data.splits:
                p2 = predict(emodel, data.splits["2x"], cfg.eval_batch_size)
                m2 = layout.metrics(cfg, data, p2, data.splits["2x"], 1)
                m["rel_l2_at_2x_resolution"] = m2["rel_l2"]
                if "boundary_error" in m2:
                    m["boundary_error_at_2x_resolution"] = m2["boundary_error"]
                    m["boundary_error_max_at_2x_resolution"] = m2["boundary_error_max"]
                if "rel_l2_per_frame" in m2:
                    details["rel_l2_per_frame_at_2x_resolution"][key] = m2["rel_l2_per_frame"]
            if cfg.split_metrics:
                for split in ("val", "ood", "2x", "4x"):
                    if split not in data.splits:
                        continue
                    ps = predict(emodel, data.splits[split], cfg.eval_batch_size)
                    details["split_n_x"][split] = int(ps.shape[2])
                    ms = layout.metrics(cfg, data, ps, data.splits[split], near * REFINE[split])
                    m.update({f"{k}_{split}": ms[k] for k in SPLIT_METRICS if k in ms})
            details["split_n_x"]["test"] = int(pred.shape[2])
            layout.finish(cfg, m, count_parameters(model), result.train_loss, result.epochs)
            timings[f"eval_{name}_s"] = time.perf_counter() - t0
            val = math.nan
            if weight is not None and "val" in data.splits:
                pv = predict(emodel, data.splits["val"], cfg.eval_batch_size)
                val = float(rel_l2_per_sample(pv, data.splits["val"]["y"].to(eval_dtype)).mean())
            candidates.append((weight, m, pred, val))
        # fno_soft: the weight with the lowest validation rel. L2 (ties: the smaller weight)
        if not candidates:
            raise FloatingPointError(f"{key}: training diverged for every weight {diverged}")
        weight, m, pred, _ = min(candidates, key=lambda c: (c[3], c[0] or 0.0))
        if len(candidates) + len(diverged) > 1:
            m = {**m, **{f"rel_l2_val_w{c[0]:g}": c[3] for c in candidates}}
            m |= {f"rel_l2_val_w{w:g}": None for w in diverged}  # diverged: not selectable
        if weight is not None:
            m["soft_weight"] = float(weight)
        layout.per_key_details(cfg, data, key, pred, details)
        metrics[key] = m
        preds[key] = pred
    rd.write_metrics(metrics)
    if case.layout == "2d" and "fno" in preds:
        y = data.splits["test"]["y"].to(eval_dtype)
        details["paired_per_frame"] = {
            k: paired_per_frame(preds[k], preds["fno"], y) for k in preds if k != "fno"
        }
    layout.floors(cfg, data, details)
    details["timings_s"] = timings
    if figures:
        t0 = time.perf_counter()
        layout.figures(rd, cfg, data, preds, details, metrics)
        timings["figures_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    write_json_atomic(rd.path / "details.json", details)
    rd.write_table(layout.table(cfg, metrics, details, command))
    if figures:
        t0 = time.perf_counter()
        _report(rd.path, log)
        timings["report_s"] = time.perf_counter() - t0
        write_json_atomic(rd.path / "details.json", details)
    return metrics


def _set_aside(rd: RunDir, names: list[str], log: Log) -> None:
    """Rename the checkpoints and training logs of stages ``names`` to
    ``<file>.replaced-<UTC time>`` so that ``fit`` trains them from scratch (old files kept)."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for name in names:
        for path in (
            rd.checkpoints / f"{name}-last.pt",
            rd.checkpoints / f"{name}-best.pt",
            rd.logs / f"{name}.jsonl",
        ):
            if path.is_file():
                target = path.with_name(f"{path.name}.replaced-{stamp}")
                path.replace(target)
                log(f"{name}: retrain — {path.name} moved to {target.name}")


def _migrate_config(rd: RunDir, cfg: BoonConfig) -> None:
    """A run directory written before a config field existed: its ``config.toml`` lacks the new
    keys. If reading it with the defaults for the missing keys gives exactly ``cfg``, it is this
    run: rewrite ``config.toml`` in the current form so that :meth:`RunDir.start` accepts it (the
    checkpoints resume; the data are regenerated under the new data hash). Anything else is left
    for :meth:`RunDir.start` to refuse."""
    path = rd.config_path
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    if text == to_toml(cfg):
        return
    try:
        old = from_dict(BoonConfig, tomllib.loads(text))
    except (ValueError, TypeError, tomllib.TOMLDecodeError):
        return
    if old == cfg:
        write_text_atomic(path, to_toml(cfg))


def _report(out: Path, log: Log) -> None:
    try:
        from pcml.experiments.report import build_report
    except ImportError:
        log("report: pcml.experiments.report is not available; report.html not written")
        return
    build_report(out)
