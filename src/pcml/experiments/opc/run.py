"""The Operator-ProbConserv runner: data, training, post-hoc and end-to-end update, metrics.

``run(cfg, out)`` executes, resuming whatever a previous run in ``out`` finished:

1. data: the splits of :mod:`pcml.pdes.operator_tasks` (train, valid, test in domain, and the OOD
   shifts small/medium/large), generated from the closed forms (milliseconds; nothing cached);
2. training with :func:`pcml.train.fit` (checkpoints ``out/checkpoints/<method>-*.pt``, logs,
   resume): post-hoc methods on their own loss, ``*_e2e`` through the update on the CRPS of the
   conserved predictive (:mod:`pcml.train.through_constraint`), with the same backbone, seed and
   budget as their post-hoc twin;
3. evaluation on every test split, in eval mode: the model's mixture, its moment-matched Gaussian
   before the update and the exact conserved posterior after it (``conserve_prediction`` in
   float64) → ``metrics.json`` ({split: {method or method+pc: {metric: value}}}), ``table.md``,
   ``costs.json`` (parameters, training and forward seconds: timings, so kept out of
   metrics.json), ``fields.json`` (maps, mass curves and calibration curves for the figures),
   figures and ``report.html``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pcml.constraints.quadrature import quadrature_weights
from pcml.experiments.config import config_hash, to_dict
from pcml.experiments.opc.config import OPCConfig, method_kind
from pcml.experiments.opc.metrics import calibration_curve, mass, operator_metrics
from pcml.experiments.rundir import RunDir, write_json_atomic
from pcml.models.base import MixturePrediction
from pcml.models.fno import count_parameters
from pcml.models.uq_operators import UQ_KINDS, UQOperator, conserve_prediction, uq_operator
from pcml.pdes.operator_tasks import SHIFT_NAMES, OperatorSplit, make_operator_split
from pcml.train import fit
from pcml.train.through_constraint import conserved_crps_loss

__all__ = ["EVAL_SPLITS", "build_model", "format_table", "run"]

#: Test splits in the order of the OOD x-axis.
EVAL_SPLITS: tuple[str, ...] = ("test", *SHIFT_NAMES)
_TABLE_METRICS = ("mse", "nll", "crps", "piw", "coverage", "rmsce", "nmerci", "ce_rel")


def build_model(cfg: OPCConfig, method: str) -> UQOperator:
    """The untrained model of ``method``; a method and its ``_e2e`` twin get the same weights."""
    kind = method_kind(method)
    u = cfg.uq
    n = {"ensemble": u.n_members, "diverse": u.n_heads, "mcdropout": u.mc_samples}.get(kind, 1)
    return uq_operator(
        kind,
        cfg.task().in_channels,
        cfg.fno,
        n_members=n,
        diversity_weight=u.diversity_weight,
        dropout=u.dropout,
        seed=cfg.seed * 100 + UQ_KINDS.index(kind),
    )


def _own_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    assert isinstance(model, UQOperator)
    return model.loss(batch)


def _splits(cfg: OPCConfig) -> dict[str, OperatorSplit]:
    task, d = cfg.task(), cfg.data
    sizes = {"train": d.n_train, "valid": d.n_valid, **dict.fromkeys(EVAL_SPLITS, d.n_test)}
    return {name: make_operator_split(task, name, n, d.seed) for name, n in sizes.items()}


def _train(
    cfg: OPCConfig,
    method: str,
    data: dict[str, OperatorSplit],
    g: Tensor,
    out: Path,
    progress: bool,
) -> tuple[UQOperator, dict[str, Any]]:
    model = build_model(cfg, method)
    e2e = method.endswith("_e2e")
    loss_fn: Callable[[nn.Module, dict[str, Tensor]], Tensor] = (
        conserved_crps_loss(g, joint=cfg.joint, noise_var=cfg.noise_var) if e2e else _own_loss
    )
    model_config = {
        "method": method,
        "problem": cfg.problem,
        "fno": to_dict(cfg.fno),
        "uq": to_dict(cfg.uq),
        "data_hash": config_hash(cfg.data),
        "joint": cfg.joint,
        "noise_var": cfg.noise_var,
        "seed": cfg.seed,
    }
    tcfg = cfg.train
    if tcfg.seed != cfg.seed:
        from dataclasses import replace

        tcfg = replace(tcfg, seed=cfg.seed)
    wall, cpu = time.perf_counter(), time.process_time()
    res = fit(
        model,
        loss_fn,
        data["train"],
        data["valid"],
        tcfg,
        out,
        method,
        progress,
        model_config=model_config,
    )
    cost = {
        "train_s": time.perf_counter() - wall,
        "train_cpu_s": time.process_time() - cpu,
        "resumed_from": res.resumed_from,
        "epochs": res.epochs,
        "best_epoch": res.best_epoch,
        "best_val_loss": res.best_val_loss,
        "parameters": count_parameters(model),
    }
    return model.cpu().eval(), cost


@torch.no_grad()
def _predict(model: UQOperator, a: Tensor, seed: int, chunk: int = 50) -> MixturePrediction:
    gen = torch.Generator().manual_seed(seed)
    parts = [model.predict(a[i : i + chunk], gen) for i in range(0, a.shape[0], chunk)]
    return MixturePrediction(
        torch.cat([p.means for p in parts], 1), torch.cat([p.variances for p in parts], 1)
    )


def _evaluate(
    cfg: OPCConfig,
    models: dict[str, UQOperator],
    data: dict[str, OperatorSplit],
    g: Tensor,
    costs: dict[str, dict[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    metrics: dict[str, Any] = {}
    fields: dict[str, Any] = {"splits": {}, "x": data["test"].x, "t": data["test"].t}
    for k, split in enumerate(EVAL_SPLITS):
        sp = data[split]
        y = sp.u64.flatten(1)
        rows: dict[str, Any] = {}
        info: dict[str, Any] = {"params": sp.params[:, 0], "truth": y[0], "b": sp.b[0]}
        for method, model in models.items():
            wall = time.perf_counter()
            pred = _predict(model, sp.a, cfg.seed * 1000 + k)
            fwd = time.perf_counter() - wall
            wall = time.perf_counter()
            post = conserve_prediction(pred, g, sp.b, joint=cfg.joint, noise_var=cfg.noise_var)
            upd = time.perf_counter() - wall
            costs[method].setdefault("forward_s_per_function", {})[split] = fwd / len(sp)
            costs[method].setdefault("update_s_per_function", {})[split] = upd / len(sp)
            before = (pred.mean.double(), pred.variance.double())
            after = (post.mean, post.variance)
            rows[method] = operator_metrics(*before, y, g, sp.b)
            rows[f"{method}+pc"] = operator_metrics(*after, y, g, sp.b)
            info[method] = {
                "mean": before[0][0],
                "std": before[1][0].sqrt(),
                "mean_pc": after[0][0],
                "std_pc": after[1][0].sqrt(),
                "mass": mass(before[0][:1], g, sp.b.shape[1])[0],
                "mass_pc": mass(after[0][:1], g, sp.b.shape[1])[0],
                "calibration": calibration_curve(*before, y),
                "calibration_pc": calibration_curve(*after, y),
            }
        metrics[split] = rows
        fields["splits"][split] = info
    return metrics, fields


def format_table(metrics: dict[str, Any], cfg: OPCConfig) -> str:
    """Markdown: one table per split, rows method / method+pc."""
    lines = [f"# Operator-ProbConserv: {cfg.problem}, profile {cfg.profile}\n"]
    task = cfg.task()
    for split, rows in metrics.items():
        lo, hi = task.param_range(split)
        lines += [
            f"\n### {split} ({task.param_name} ∈ [{lo:g}, {hi:g}])\n",
            "| method | " + " | ".join(_TABLE_METRICS) + " |",
            "|---|" + "---:|" * len(_TABLE_METRICS),
        ]
        for method, m in rows.items():
            cells = [_num(m[k]) for k in _TABLE_METRICS]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _num(v: float) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3g}"


def _jsonable(v: Any) -> Any:
    if isinstance(v, Tensor):
        return v.tolist()
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def run(
    cfg: OPCConfig,
    out: str | Path,
    *,
    command: str | None = None,
    progress: bool = True,
    figures: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run (or resume) the study in ``out``; returns the metrics.json content."""
    rd = RunDir(out)
    out = rd.path
    rd.start(cfg, command)
    t0, c0 = time.perf_counter(), time.process_time()
    data = _splits(cfg)
    g = quadrature_weights(data["test"].x)
    log(f"data: {', '.join(f'{k} {len(v)}' for k, v in data.items())}")
    models: dict[str, UQOperator] = {}
    costs: dict[str, dict[str, Any]] = {}
    for method in cfg.methods:
        models[method], costs[method] = _train(cfg, method, data, g, out, progress)
        c = costs[method]
        log(
            f"{method}: {c['epochs']} epochs, best val {c['best_val_loss']}, "
            f"resumed from {c['resumed_from']}, {c['train_s']:.1f} s"
        )
    metrics, fields = _evaluate(cfg, models, data, g, costs)
    metrics = _jsonable(metrics)
    rd.write_metrics(metrics)
    rd.write_table(format_table(metrics, cfg))
    write_json_atomic(out / "fields.json", _jsonable(fields))
    costs["total"] = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    write_json_atomic(out / "costs.json", _jsonable(costs))
    if figures:
        from pcml.experiments.opc.plots import plot_all
        from pcml.experiments.report import build_report

        plot_all(out, cfg)
        build_report(out)
    return metrics
