r"""Operator backbones against the quick ANP on the ProbConserv Stefan test setting.

The ProbConserv Stefan experiment (``pcml probconserv run stefan``) scores a model at
t* = 0.05 on the 201-point grid x_i = i/200 for the test values u* ∈ {0.5, 0.6} (training range
u* ∈ [0.55, 0.70], t ∈ [0, 0.1]): per test function MSE = (1/201) Σ_i (μ_i − u(t*, x_i))², then
the mean over its 50 test functions per value (they differ only in the ANP's context points).

``anp_setting_metrics(run_dir)`` scores a finished ``pcml opc run stefan_anp`` run (grid
201 × 10 with t_j = 0.01 (j + 1), so t* = t_4) the same way: every method's model is rebuilt
from its best checkpoint (refused unless the checkpoint's model config is this run's), fed the
input of u* (``n_functions`` copies, each predicted with its own generator, the analogue of the
ANP's 50 functions; identical for deterministic models), and scored at t* before and after the
exact per-slice update (``conserve_prediction``, σ_G = 0). Returns
``{value: {method or method+pc: {"mse", "mse_se", "crps", "ce"}}}`` with ``ce`` the signed
G μ(t*) − b(t*), mean over functions.

``anp_reference(run_dir)`` reads the same numbers from a ``pcml probconserv run stefan`` run's
``metrics.json``; ``format_anp_comparison`` puts mean ± SE over operator seeds next to them.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pcml.constraints.quadrature import quadrature_weights
from pcml.experiments.config import config_hash, to_dict
from pcml.experiments.opc.config import OPCConfig, make_config
from pcml.experiments.opc.run import build_model
from pcml.metrics.probabilistic import crps_gaussian
from pcml.models.uq_operators import UQOperator, conserve_prediction
from pcml.pdes.operator_tasks import operator_split_at
from pcml.train.checkpoint import load_checkpoint

__all__ = [
    "ANP_METHODS",
    "anp_reference",
    "anp_references",
    "anp_setting_metrics",
    "format_anp_comparison",
    "load_trained",
]

#: The ProbConserv-experiment rows compared (those present in the reference run are shown).
ANP_METHODS: tuple[str, ...] = ("anp", "probconserv_anp", "probconserv_anp_bounded")


def _run_config(run: Path) -> OPCConfig:
    path = run / "config.toml"
    if not path.is_file():
        raise ValueError(f"run_dir: {run} has no config.toml (not an opc run directory)")
    with path.open("rb") as fh:
        raw = tomllib.load(fh)
    return make_config(raw["problem"], raw["profile"], path)


def load_trained(run_dir: str | Path, method: str) -> tuple[OPCConfig, UQOperator]:
    """The config of a finished opc run and ``method``'s model from its best (``keep_best``)
    or last checkpoint, in eval mode; ``ValueError`` if the checkpoint was trained on another
    config (method, FNO settings or data)."""
    run = Path(run_dir)
    cfg = _run_config(run)
    return cfg, _load_model(cfg, run, method)


def _load_model(cfg: OPCConfig, run: Path, method: str) -> UQOperator:
    last = load_checkpoint(run / "checkpoints" / f"{method}-last.pt", "cpu")
    if int(last["epoch"]) < cfg.train.epochs:
        raise ValueError(
            f"run_dir: {method} in {run} trained {last['epoch']} of {cfg.train.epochs} epochs "
            "(not finished; re-run its command to resume)"
        )
    name = "best" if cfg.train.keep_best else "last"
    ckpt = load_checkpoint(run / "checkpoints" / f"{method}-{name}.pt", "cpu")
    saved = (ckpt.get("config") or {}).get("model") or {}
    expect = {"method": method, "fno": to_dict(cfg.fno), "data_hash": config_hash(cfg.data)}
    bad = [k for k, v in expect.items() if saved.get(k) != v]
    if bad:
        raise ValueError(
            f"run_dir: {run}/checkpoints/{method}-{name}.pt was not trained by this run's config "
            f"({', '.join(bad)} differ)"
        )
    model = build_model(cfg, method)
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()


@torch.no_grad()
def anp_setting_metrics(
    run_dir: str | Path,
    values: Sequence[float] = (0.5, 0.6),
    t_star: float = 0.05,
    n_functions: int = 50,
    methods: Sequence[str] | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """Module docstring; ``methods``: a subset of the run's methods (default: all). Each needs
    its finished checkpoints only (metrics.json is not read). ``ValueError`` if t* is not on the
    run's time grid, a method is not the run's or its training did not finish."""
    run = Path(run_dir)
    cfg = _run_config(run)
    task = cfg.task()
    t = task.t_grid()
    k = int(np.argmin(np.abs(t - t_star)))
    if abs(t[k] - t_star) > 1e-9:
        raise ValueError(f"t_star: {t_star} is not on the run's time grid {t.tolist()}")
    if n_functions < 1:
        raise ValueError(f"n_functions: expected >= 1, got {n_functions}")
    chosen = list(cfg.methods if methods is None else methods)
    bad = [m for m in chosen if m not in cfg.methods]
    if bad or not chosen:
        raise ValueError(f"methods: got {chosen}, expected a subset of the run's {cfg.methods}")
    models = {m: _load_model(cfg, run, m) for m in chosen}
    out: dict[str, dict[str, dict[str, float]]] = {}
    for v in values:
        sp = operator_split_at(task, np.full(n_functions, float(v)), name=f"u*={v:g}")
        g = quadrature_weights(sp.x)
        y = sp.u64[:, 0, :, k]  # (N, n_x)
        b = sp.b[:, k]
        rows: dict[str, dict[str, float]] = {}
        for method, model in models.items():
            pred = model.predict(sp.a, torch.Generator().manual_seed(cfg.seed * 1000 + 17))
            post = conserve_prediction(pred, g, sp.b)
            shape = (n_functions, task.n_x, task.n_t)
            for key, mu, var in (
                (method, pred.mean.double(), pred.variance.double()),
                (f"{method}+pc", post.mean, post.variance),
            ):
                mu_k = mu.reshape(shape)[..., k]
                var_k = var.reshape(shape)[..., k].clamp_min(1e-300)
                per_fn = (mu_k - y).square().mean(1)
                rows[key] = {
                    "mse": float(per_fn.mean()),
                    "mse_se": float(per_fn.std(unbiased=False) / math.sqrt(n_functions)),
                    "crps": float(crps_gaussian(mu_k, var_k, y).mean()),
                    "ce": float(((mu_k * g).sum(1) - b).mean()),
                }
        out[format(float(v), "g")] = rows
    return out


def anp_reference(run_dir: str | Path) -> dict[str, dict[str, dict[str, float]]]:
    """``{value: {method: metrics}}`` of a finished ``pcml probconserv run stefan`` run (rows of
    :data:`ANP_METHODS` it holds); ``ValueError`` unless it scored Stefan at t* = 0.05."""
    run = Path(run_dir)
    for name in ("metrics.json", "config.toml"):
        if not (run / name).is_file():
            raise ValueError(f"anp run: {run} has no {name} (not a finished probconserv run)")
    with (run / "config.toml").open("rb") as fh:
        raw = tomllib.load(fh)
    t_star = raw.get("problem_settings", {}).get("t_star")
    if raw.get("problem") != "stefan" or t_star != 0.05:
        raise ValueError(
            f"anp run: {run} is {raw.get('problem')!r} at t* = {t_star}, expected stefan at 0.05"
        )
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    return {
        v: {m: rows[m] for m in ANP_METHODS if m in rows}
        for v, rows in metrics.items()
        if isinstance(rows, Mapping)
    }


def anp_references(run_dirs: Sequence[str | Path]) -> list[dict[str, dict[str, dict[str, float]]]]:
    """:func:`anp_reference` of several ``pcml probconserv run stefan`` runs, one per seed:
    ``ValueError`` unless they score the same test functions (equal ``[problem_settings]`` and
    ``[data]``) with different model seeds."""
    if not run_dirs:
        raise ValueError("anp runs: expected at least one run directory")
    refs = [anp_reference(r) for r in run_dirs]
    first: dict[str, Any] | None = None
    seeds: dict[Any, Path] = {}
    for r in map(Path, run_dirs):
        with (r / "config.toml").open("rb") as fh:
            raw = tomllib.load(fh)
        same = {k: raw.get(k) for k in ("problem_settings", "data")}
        if first is None:
            first = same
        elif same != first:
            raise ValueError(
                f"anp runs: {r} scores other test functions than {Path(run_dirs[0])} "
                "([problem_settings] or [data] differ)"
            )
        seed = raw.get("seed")
        if seed in seeds:
            raise ValueError(f"anp runs: {r} and {seeds[seed]} have the same seed {seed}")
        seeds[seed] = r
    return refs


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, math.nan
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, sd / math.sqrt(n)


def _fmt(mean: float, se: float) -> str:
    return f"{mean:.3g}" if math.isnan(se) else f"{mean:.3g} ± {se:.2g}"


def format_anp_comparison(
    per_seed: Sequence[Mapping[str, Mapping[str, Mapping[str, float]]]],
    reference: Mapping[str, Mapping[str, Mapping[str, float]]]
    | Sequence[Mapping[str, Mapping[str, Mapping[str, float]]]],
    in_domain: str = "0.6",
) -> str:
    """Markdown: per test value, MSE at t* of every operator method before/after the update
    (mean ± SE over the seeds of ``per_seed``, each an :func:`anp_setting_metrics` result) next
    to the reference ANP rows — ``reference`` one :func:`anp_reference` (mean ± SE over its test
    functions) or a sequence of them, one per ANP seed (mean ± SE over those seeds) — and the
    verdict for ``in_domain``: the operator method with the lowest mean MSE after the update
    against ``probconserv_anp`` (★ when the gap exceeds 2 SE: the operator seeds' SE, combined
    with the ANP seeds' as √(SE₁² + SE₂²) when there are several ANP runs)."""
    if not per_seed:
        raise ValueError("per_seed: expected the metrics of at least one seed")
    refs = [reference] if isinstance(reference, Mapping) else list(reference)
    if not refs:
        raise ValueError("reference: expected at least one ANP run")
    n_ref = len(refs)

    def ref_stat(v: str, m: str, key: str) -> tuple[float, float]:
        if n_ref == 1:
            return refs[0][v][m][key], refs[0][v][m].get(f"{key}_se", math.nan)
        return _mean_se([r[v][m][key] for r in refs])

    out: list[str] = []
    for v in per_seed[0]:
        methods = [m for m in per_seed[0][v] if not m.endswith("+pc")]
        out += [
            f"\n**u* = {v}** (MSE at t* = 0.05 on 201 points; {len(per_seed)} operator seeds)\n",
            "| model | MSE before the update | MSE after (ProbConserv) | CRPS after |",
            "|---|---|---|---|",
        ]
        for m in methods:
            before = _mean_se([s[v][m]["mse"] for s in per_seed])
            after = _mean_se([s[v][m + "+pc"]["mse"] for s in per_seed])
            crps = _mean_se([s[v][m + "+pc"]["crps"] for s in per_seed])
            out.append(f"| FNO {m} | {_fmt(*before)} | {_fmt(*after)} | {_fmt(*crps)} |")
        shown = [m for m in ANP_METHODS if all(m in r.get(v, {}) for r in refs)]
        for m in shown:
            mean, se = ref_stat(v, m, "mse")
            cell = f"{mean:.3g} ± {se:.2g}"
            cells = (cell, "–") if m == "anp" else ("–", cell)
            if n_ref == 1:
                crps_cell = f"{refs[0][v][m].get('crps', math.nan):.3g}"
            else:
                crps_cell = _fmt(*ref_stat(v, m, "crps"))
            how = "1 run, SE over its functions" if n_ref == 1 else f"{n_ref} seeds"
            out.append(f"| quick {m} ({how}) | {cells[0]} | {cells[1]} | {crps_cell} |")
    v = in_domain
    if v in per_seed[0] and all("probconserv_anp" in r.get(v, {}) for r in refs):
        methods = [m for m in per_seed[0][v] if not m.endswith("+pc")]
        best = min(methods, key=lambda m: _mean_se([s[v][m + "+pc"]["mse"] for s in per_seed])[0])
        mean, se = _mean_se([s[v][best + "+pc"]["mse"] for s in per_seed])
        anp, anp_se = ref_stat(v, "probconserv_anp", "mse")
        se_gap = se if n_ref == 1 else math.hypot(se, anp_se)
        star = " ★" if not math.isnan(se_gap) and abs(anp - mean) > 2 * se_gap else ""
        word = "beats" if mean < anp else "does not beat"
        anp_text = f"{anp:.3g}" if n_ref == 1 else f"{_fmt(anp, anp_se)}, {n_ref} seeds"
        rule = "2 SE over seeds" if n_ref == 1 else "2 combined SE of both sides' seeds"
        out.append(
            f"\n**Verdict (u* = {v}, in domain):** the best operator backbone + ProbConserv "
            f"(`{best}`, MSE {_fmt(mean, se)}) {word} the quick ANP + ProbConserv "
            f"({anp_text}): ratio {mean / anp:.2f}{star} (★: the gap exceeds {rule})."
        )
    return "\n".join(out).lstrip("\n") + "\n"
