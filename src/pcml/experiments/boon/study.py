r"""A BOON study: one case, several seeds, every model on every split; mean ± SE and paired
differences.

For seeds s = 0 … S − 1 the study runs :func:`pcml.experiments.boon.runner.run` with
:func:`study_config` (the profile's settings, the models of
:data:`pcml.experiments.boon.config.STUDY_MODELS`, a validation split, 4× evaluation, varied
boundary data with an out-of-distribution split where the case has boundary parameters, per-split
metrics, weight seed = data-order seed = s; the data are the same for every seed, so the test
sets and differences are paired) in ``DIR/seed<s>`` — re-running resumes each seed's run
directory; ``retrain`` (CLI ``--retrain``) trains the named models again in every seed's
directory and keeps the others (resumed from their verified checkpoints, re-evaluated).
Then, per model m, split k ∈ {ID, OOD, 2N, 4N} and metric q (rel. L2, rel. L2 near
the boundary, boundary error, 6th-order flux error for Neumann):

.. math::

    \bar q = \frac1S \sum_s q_s, \qquad \mathrm{SE} = \frac{\mathrm{std}_s(q_s)}{\sqrt S},
    \qquad d_s = q_s(m) - q_s(\texttt{fno\_bc}), \quad \bar d \pm \mathrm{SE}(d)

(std with S − 1 degrees of freedom; no SE for one seed). The profile's additions per layout
(validation size, 4×, fno_soft weights, smaller sizes for the 2-D quick study) are data:
:data:`pcml.experiments.boon.config.STUDY_PROFILES`. Seeds > 0 reuse seed
0's data files (hard links; the data settings, hence the data, are the same for every seed).
``DIR/study.json`` holds every number, ``DIR/study.md`` the tables; :func:`update_doc`
replaces the case's section of a results page between ``<!-- boon-study:CASE:start -->``
and ``<!-- boon-study:CASE:end -->``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pcml.experiments.boon.cases import get_case
from pcml.experiments.boon.config import (
    STUDY_MODELS,
    STUDY_PROFILES,
    BoonConfig,
    make_config,
    study_profile,
)
from pcml.experiments.boon.runner import run, soft_variants
from pcml.experiments.config import to_dict, to_toml
from pcml.experiments.rundir import (
    RunDir,
    replace_marked_section,
    write_json_atomic,
    write_text_atomic,
)
from pcml.train.checkpoint import load_checkpoint

__all__ = [
    "BASELINE",
    "METRICS",
    "SPLITS",
    "STUDY_SETTINGS",
    "aggregate",
    "collect_seed",
    "format_study",
    "run_study",
    "study_config",
    "update_doc",
]

#: The reference of the paired differences: the FNO given the same boundary data as BOON.
BASELINE = "fno_bc"
#: (split title, metric-key suffix): ID = the test split (no suffix).
SPLITS: tuple[tuple[str, str], ...] = (("ID", ""), ("OOD", "_ood"), ("2N", "_2x"), ("4N", "_4x"))
#: (metric key, title).
METRICS: tuple[tuple[str, str], ...] = (
    ("rel_l2", "rel. L2"),
    ("rel_l2_near_boundary", "rel. L2 near the boundary"),
    ("boundary_error", "boundary error (mean |r|, BOON's stencil)"),
    ("boundary_error_hi_order", "flux error, 6th-order one-sided estimate"),
)
#: The study's additions to each profile, per layout (data, in the config module).
STUDY_SETTINGS = STUDY_PROFILES

Log = Callable[[str], None]


def study_config(
    case: str,
    profile: str,
    seed: int,
    multi_step: bool = False,
    config_file: Path | str | None = None,
    overrides: Iterable[str] = (),
) -> BoonConfig:
    """The run config of one study seed (module docstring); ``overrides`` apply last."""
    c = get_case(case)
    sp = study_profile(case, profile)
    # a closed periodic axis: every FNO works on the open grid (pcml.experiments.boon.models),
    # its seam residual — fno_soft's penalty — is identically 0, so every weight trains the same
    # model (fno itself): one weight, no selection
    weights = (1.0,) if c.periodic_closed_grid else sp.soft_weights
    sets = [
        f"models={json.dumps(list(STUDY_MODELS))}",
        f"data.n_val={sp.n_val}",
        f"data.eval_4x={str(sp.eval_4x).lower()}",
        f"soft_weights={json.dumps(list(weights))}",
        *sp.sets,
        f'data.boundary_data="{"varied" if c.boundary_params else "fixed"}"',
        "split_metrics=true",
        f"seed={seed}",
        f"train.seed={seed}",
        *overrides,
    ]
    return make_config(case, profile, multi_step or c.layout == "2d", config_file, sets)


def _mean_se(values: Sequence[float]) -> dict[str, float | int | None]:
    n = len(values)
    mean = math.fsum(values) / n
    se = None
    if n > 1:
        var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
        se = math.sqrt(var / n)
    return {"mean": mean, "se": se, "n": n}


def _floats(values: Iterable[Any]) -> list[float] | None:
    """The values as floats, or None if any is missing or not a number."""
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        out.append(float(v))
    return out


def aggregate(per_seed: Mapping[int, Mapping[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """``{"models": {m: {split: {metric: {mean, se, n}}}}, "paired": {m: {split: {metric: ...}}}}``
    from ``{seed: metrics.json}`` (module docstring); metrics absent in some seed are skipped."""
    seeds = sorted(per_seed)
    models = [m for m in per_seed[seeds[0]] if all(m in per_seed[s] for s in seeds)]
    out: dict[str, Any] = {"seeds": seeds, "models": {}, "paired": {}}
    for m in models:
        out["models"][m] = {}
        if m != BASELINE and BASELINE in models:
            out["paired"][m] = {}
        for split, suffix in SPLITS:
            for q, _ in METRICS:
                key = q + suffix
                vals = _floats(per_seed[s][m].get(key) for s in seeds)
                if vals is None:
                    continue
                out["models"][m].setdefault(split, {})[q] = _mean_se(vals)
                if m in out["paired"]:
                    base = _floats(per_seed[s][BASELINE].get(key) for s in seeds)
                    if base is not None:
                        d = [a - b for a, b in zip(vals, base, strict=True)]
                        out["paired"][m].setdefault(split, {})[q] = _mean_se(d)
    return out


def _cell(s: Mapping[str, Any] | None, signed: bool = False) -> str:
    if s is None:
        return "–"
    mean = f"{s['mean']:+.3g}" if signed else f"{s['mean']:.3g}"
    return mean if s["se"] is None else f"{mean} ± {s['se']:.2g}"


def format_study(case: str, agg: Mapping[str, Any], command: str, info: Mapping[str, Any]) -> str:
    """Markdown of an aggregated study: one table per metric (models × splits), then the paired
    differences to ``fno_bc`` of the relative L2 (marked ★ where |d̄| ≥ 2 SE)."""
    seeds = agg["seeds"]
    splits = [s for s, _ in SPLITS if any(s in v for v in agg["models"].values())]
    lines = [
        f"### {case}: {len(seeds)} seed{'s' if len(seeds) != 1 else ''} "
        f"({', '.join(map(str, seeds))}), profile "
        f"{info.get('profile', '?')}",
        "",
        f"Command: `{command}`" if command else "",
        "",
        "Mean ± standard error over seeds (each seed: weight initialisation and data order; "
        "the data are the same for every seed). Splits: ID = test trajectories from the "
        "training law; OOD = boundary data from the out-of-distribution ranges"
        + (f" ({info['ood']})" if info.get("ood") else " (this case has no boundary data)")
        + "; 2N / 4N = the ID test trajectories generated at 2× / 4× the resolution "
        "(zero-shot).",
        "",
    ]
    for q, title in METRICS:
        if not any(q in v.get(s, {}) for v in agg["models"].values() for s in splits):
            continue
        lines += [f"**{title}**", "", "| model | " + " | ".join(splits) + " |"]
        lines.append("|---|" + "---|" * len(splits))
        for m, per in agg["models"].items():
            lines.append(
                f"| {m} | " + " | ".join(_cell(per.get(s, {}).get(q)) for s in splits) + " |"
            )
        lines.append("")
    if agg["paired"]:
        lines += [
            f"**Paired difference of rel. L2 to {BASELINE}** (model − {BASELINE}, per seed; "
            "★: |mean| ≥ 2 SE)",
            "",
            "| model | " + " | ".join(splits) + " |",
            "|---|" + "---|" * len(splits),
        ]
        for m, per in agg["paired"].items():
            cells = []
            for s in splits:
                d = per.get(s, {}).get("rel_l2")
                star = significant(d)
                cells.append(_cell(d, signed=True) + (" ★" if star else ""))
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    if info.get("train_s"):
        lines.append(
            "Training seconds per seed (mean over seeds): "
            + ", ".join(f"{k} {v:.0f}" for k, v in info["train_s"].items())
        )
        lines.append("")
    return "\n".join(line for line in lines if line is not None).rstrip() + "\n"


def significant(d: dict[str, Any] | None) -> bool:
    """★ of the paired-difference tables: a non-zero mean difference at least 2 SE from 0
    (identical models, difference 0 ± 0, are not a finding)."""
    if d is None or d["se"] is None:
        return False
    return 0 < abs(d["mean"]) >= 2 * d["se"]


def run_study(
    case: str,
    seeds: int,
    profile: str,
    out: Path | str,
    multi_step: bool = False,
    config_file: Path | str | None = None,
    overrides: Iterable[str] = (),
    command: str = "",
    progress: bool = False,
    figures: bool = False,
    log: Log = print,
    retrain: Iterable[str] = (),
    collect: bool = False,
) -> dict[str, Any]:
    """Run (or resume) ``seeds`` seeds of ``case`` in ``out/seed<s>`` and write ``study.json`` and
    ``study.md`` (module docstring); returns the aggregate. ``retrain``: models trained again
    from scratch in every seed's directory, the others resumed from their verified checkpoints
    and re-evaluated (:func:`pcml.experiments.boon.runner.run`): the partial re-run after a
    model's code changed. ``collect``: train and evaluate nothing; read every seed's finished
    ``metrics.json`` after :func:`collect_seed` has checked it."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an int >= 1, got {seeds!r}")
    out = Path(out)
    overrides = list(overrides)
    retrain = tuple(retrain)
    cfgs = {
        s: study_config(case, profile, s, multi_step, config_file, overrides) for s in range(seeds)
    }  # fmt: skip  (all configs validated before any work)
    if collect and retrain:
        raise ValueError("collect reads finished seeds; it cannot also retrain models")
    bad = [k for k in retrain if k not in cfgs[0].models]
    if bad or len(set(retrain)) != len(retrain):
        raise ValueError(
            f"retrain must be distinct models of the study {cfgs[0].models}, got {retrain}"
        )
    per_seed: dict[int, dict[str, Any]] = {}
    train_s: dict[str, list[float]] = {}
    for s, cfg in cfgs.items():
        log(f"study {case}: seed {s} -> {out / f'seed{s}'}")
        if s > 0 and not collect:
            _share_data(out / "seed0", out / f"seed{s}")
        sub = command + f"  # seed {s}" if command else ""
        if collect:
            per_seed[s] = collect_seed(cfg, out / f"seed{s}")
        else:
            per_seed[s] = run(cfg, out / f"seed{s}", command=sub, progress=progress,
                              figures=figures, log=log, retrain=retrain)  # fmt: skip
        details = json.loads((out / f"seed{s}" / "details.json").read_text(encoding="utf-8"))
        for k in cfg.models:
            names = [f"train_{n}_s" for n, _ in soft_variants(cfg, k)]
            t = [details["timings_s"][n] for n in names if n in details["timings_s"]]
            train_s.setdefault(k, []).append(math.fsum(t))
    agg = aggregate(per_seed)
    c = get_case(case)
    info = {
        "profile": profile,
        "ood": "; ".join(
            f"{p.name}: train {list(p.train)}, OOD {list(p.ood)}" for p in c.boundary_params
        ),
        "why": {p.name: p.why for p in c.boundary_params},
        "train_s": {k: math.fsum(v) / len(v) for k, v in train_s.items()},
        "config_seed0": to_dict(cfgs[0]),
    }
    result = {"case": case, "command": command, **agg, "info": info}
    write_json_atomic(out / "study.json", result)
    write_text_atomic(out / "study.md", format_study(case, agg, command, info))
    return result


def collect_seed(cfg: BoonConfig, path: Path) -> dict[str, Any]:
    """The ``metrics.json`` of a finished seed directory, used without re-evaluating only after
    checking that it is this config's run and that every number in it is from the finished
    training: ``config.toml`` is exactly ``cfg``'s; every model of ``cfg.models`` is in
    ``metrics.json``; each of its trainings (:func:`soft_variants`; a diverged ``fno_soft`` weight,
    recorded as ``None``, has none) has a last checkpoint at ``cfg.train.epochs`` whose train and
    model config are ``cfg``'s, written *before* ``metrics.json``. Anything else raises
    ``ValueError`` naming the seed directory and what differs (run the study without
    ``collect`` there: it resumes and re-evaluates)."""
    rd = RunDir(path, create=False)
    where = f"collect: {path}"
    if not rd.config_path.is_file() or rd.read_text(rd.config_path) != to_toml(cfg):
        raise ValueError(f"{where}: config.toml is missing or not this study's config")
    metrics = rd.read_metrics()
    stamp = rd.metrics_path.stat().st_mtime_ns
    train = json.loads(json.dumps(dataclasses.asdict(cfg.train)))
    for key in cfg.models:
        if key not in metrics:
            raise ValueError(f"{where}: metrics.json has no {key!r}")
        for name, weight in soft_variants(cfg, key):
            if weight is not None and metrics[key].get(f"rel_l2_val_w{weight:g}", 0.0) is None:
                continue  # this penalty weight diverged: no checkpoint, not selectable
            ckpt_path = rd.checkpoints / f"{name}-last.pt"
            ckpt = load_checkpoint(ckpt_path)
            model_cfg = ckpt["config"].get("model") or {}
            same = (
                json.loads(json.dumps(ckpt["config"].get("train"))) == train
                and model_cfg.get("key") == key
                and model_cfg.get("model") == json.loads(json.dumps(to_dict(cfg.model)))
                and model_cfg.get("boon") == json.loads(json.dumps(to_dict(cfg.boon)))
            )
            if key.startswith("fno") and get_case(cfg.case).periodic_closed_grid:
                same = same and bool(model_cfg.get("open_periodic_dims"))  # not the seam FNO
            if not same or ckpt["epoch"] != cfg.train.epochs:
                raise ValueError(
                    f"{where}: {ckpt_path.name} is not this config's finished training "
                    f"(epoch {ckpt['epoch']} of {cfg.train.epochs}, config match {same})"
                )
            if ckpt_path.stat().st_mtime_ns > stamp:
                raise ValueError(f"{where}: {ckpt_path.name} is newer than metrics.json")
    return metrics


def _share_data(src: Path, dst: Path) -> None:
    """Hard-link (or copy) seed 0's data files into another seed's run directory: every seed
    has the same data settings, so the same ``data/<hash>/`` folder; the runner reuses files
    present under its own hash and regenerates any that are missing."""
    for f in sorted((src / "data").glob("*/*.h5")):
        target = dst / "data" / f.parent.name / f.name
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(f, target)
        except OSError:
            shutil.copy2(f, target)


_MARK = "<!-- boon-study:{case}:{end} -->"


def update_doc(doc: Path | str, case: str, markdown: str) -> Path:
    """Replace the section of ``case`` in the markdown file ``doc`` (between its start and end
    markers) by ``markdown``; appended with markers when absent. Written atomically."""
    start, end = _MARK.format(case=case, end="start"), _MARK.format(case=case, end="end")
    return replace_marked_section(doc, start, end, markdown)
