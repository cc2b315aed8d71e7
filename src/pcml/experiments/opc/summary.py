"""Mean ± SE over seeds of Operator-ProbConserv runs: the tables of docs/results/opc.md.

``summarize(run_dirs)`` reads ``metrics.json``, ``costs.json`` and ``config.toml`` of runs of one
problem and profile (different seeds) and returns Markdown with, per split (in domain and the
three shifts):

1. MSE before/after the update per method and the relative change 1 − MSE_after/MSE_before
   (positive: ProbConserv helps);
2. n-MeRCI before the update (DiverseNO vs the ensemble, lower is better);
3. post hoc vs end to end (CRPS and MSE after the update, method vs method_e2e);
4. training CPU seconds relative to one FNO (the ensemble's per-member cost).

SE = sd/√n over seeds (n ≥ 2), "–" otherwise.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["summarize"]


def _ms(values: Sequence[float]) -> str:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return "–"
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return f"{mean:.3g}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{mean:.3g} ± {sd / math.sqrt(len(vals)):.2g}"


def _load(run: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    for name in ("metrics.json", "costs.json", "config.toml"):
        if not (run / name).is_file():
            raise ValueError(f"run_dirs: {run} has no {name} (not a finished opc run)")
    with (run / "config.toml").open("rb") as fh:
        cfg = tomllib.load(fh)
    return (
        json.loads((run / "metrics.json").read_text(encoding="utf-8")),
        json.loads((run / "costs.json").read_text(encoding="utf-8")),
        cfg,
    )


def summarize(run_dirs: Sequence[str | Path]) -> str:
    """Markdown tables over the runs (module docstring); raises ``ValueError`` for runs of
    different problems/profiles or repeated seeds."""
    if not run_dirs:
        raise ValueError("run_dirs: expected at least one run directory")
    runs = [_load(Path(r)) for r in run_dirs]
    keys = {(c["problem"], c["profile"]) for _, _, c in runs}
    seeds = [c["seed"] for _, _, c in runs]
    if len(keys) != 1 or len(set(seeds)) != len(seeds):
        raise ValueError(
            f"run_dirs: expected one problem/profile and distinct seeds, got {sorted(keys)}, "
            f"seeds {seeds}"
        )
    problem, profile = keys.pop()
    methods = list(runs[0][2]["methods"])
    splits = list(runs[0][0])
    out = [f"## {problem}, profile {profile}, seeds {sorted(seeds)} (mean ± SE)\n"]

    out += ["\n### MSE before → after ProbConserv, relative change 1 − after/before\n"]
    out += ["| method | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for m in methods:
        cells = []
        for s in splits:
            before = [r[0][s][m]["mse"] for r in runs]
            after = [r[0][s][f"{m}+pc"]["mse"] for r in runs]
            gain = [1 - a / b for a, b in zip(after, before, strict=True) if b > 0]
            cells.append(f"{_ms(before)} → {_ms(after)} ({_ms(gain)})")
        out.append(f"| {m} | " + " | ".join(cells) + " |")

    out += ["\n### n-MeRCI (before / after the update; lower is better)\n"]
    out += ["| method | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    for m in methods:
        cells = [
            f"{_ms([r[0][s][m]['nmerci'] for r in runs])} / "
            f"{_ms([r[0][s][m + '+pc']['nmerci'] for r in runs])}"
            for s in splits
        ]
        out.append(f"| {m} | " + " | ".join(cells) + " |")

    twins = [m for m in methods if f"{m}_e2e" in methods]
    if twins:
        out += ["\n### Post hoc vs end to end (after the update): CRPS / MSE\n"]
        out += ["| method | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
        for m in [x for t in twins for x in (t, f"{t}_e2e")]:
            cells = [
                f"{_ms([r[0][s][m + '+pc']['crps'] for r in runs])} / "
                f"{_ms([r[0][s][m + '+pc']['mse'] for r in runs])}"
                for s in splits
            ]
            out.append(f"| {m} | " + " | ".join(cells) + " |")

    if "ensemble" in methods:
        n_members = runs[0][2]["uq"]["n_members"]
        out += [
            f"\n### Training CPU seconds, relative to one FNO (ensemble / M, M = {n_members})\n",
            "| method | CPU s | ratio | parameters |",
            "|---|---|---|---|",
        ]
        one = [r[1]["ensemble"]["train_cpu_s"] / n_members for r in runs]
        for m in methods:
            cpu = [r[1][m]["train_cpu_s"] for r in runs]
            ratio = [c / o for c, o in zip(cpu, one, strict=True)]
            out.append(f"| {m} | {_ms(cpu)} | {_ms(ratio)} | {runs[0][1][m]['parameters']} |")
    return "\n".join(out) + "\n"
