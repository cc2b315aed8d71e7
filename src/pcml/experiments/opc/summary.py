r"""Mean ± SE over seeds of Operator-ProbConserv runs: the sections of docs/results/opc.md.

``summarize(run_dirs)`` reads ``metrics.json``, ``costs.json`` and ``config.toml`` of finished
``pcml opc run`` directories, groups them by problem (one profile and distinct seeds per
problem) and returns Markdown, one section per problem, with, over the n seeds
(SE = sd/√n, "–" for n = 1; a *paired* change is computed per seed first, then mean ± SE;
★: |mean| ≥ 2 SE):

1. a verdict per split (ID test and the three OOD shifts): does post-hoc ProbConserv improve the
   MSE, r = 1 − MSE_after/MSE_before (paired), for each post-hoc method;
2. MSE before → after and r, per method and split;
3. the relative conservation error after the update, max over seeds and splits (must be
   ≤ 1e-12), next to the one before;
4. n-MeRCI of DiverseNO and of the ensemble and their paired difference (before / after);
5. training CPU seconds relative to one FNO (the ensemble's time / M) with the issue's checks
   DiverseNO ≤ 1.5× and ensemble ≈ M×;
6. post hoc vs end to end after the update (CRPS / MSE) and the paired relative MSE difference
   1 − MSE_e2e/MSE_posthoc;
7. 95 % coverage and interval width before → after.

``update_doc(doc, problem, markdown)`` replaces the section between
``<!-- opc:PROBLEM:start -->`` and ``<!-- opc:PROBLEM:end -->`` (appended when absent).
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pcml.experiments.rundir import replace_marked_section

__all__ = ["CE_TOLERANCE", "Stat", "summarize", "summarize_groups", "update_doc"]

#: The relative conservation error the update must reach (issue 16).
CE_TOLERANCE = 1e-12
_MARK = "<!-- opc:{problem}:{end} -->"
_POST_HOC = ("ensemble", "diverse", "mcdropout", "meanvar")


@dataclass(frozen=True)
class Stat:
    """Mean and standard error (sd/√n, NaN for n < 2) of ``n`` finite values."""

    mean: float
    se: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat:
        vals = [float(v) for v in values if v is not None and math.isfinite(v)]
        if not vals:
            return cls(math.nan, math.nan, 0)
        mean = sum(vals) / len(vals)
        if len(vals) < 2:
            return cls(mean, math.nan, len(vals))
        sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
        return cls(mean, sd / math.sqrt(len(vals)), len(vals))

    @property
    def significant(self) -> bool:
        """|mean| ≥ 2 SE (and SE > 0, or mean ≠ 0 with SE = 0)."""
        if math.isnan(self.se) or math.isnan(self.mean):
            return False
        return abs(self.mean) >= 2 * self.se and self.mean != 0

    def fmt(self, spec: str = ".3g") -> str:
        if self.n == 0:
            return "–"
        if math.isnan(self.se):
            return format(self.mean, spec)
        return f"{format(self.mean, spec)} ± {self.se:.2g}"

    def pct(self) -> str:
        """As a signed percentage with ★ when significant."""
        if self.n == 0:
            return "–"
        se = "" if math.isnan(self.se) else f" ± {100 * self.se:.1f}"
        mean = round(100 * self.mean, 1) + 0.0  # no "-0.0"
        return f"{mean:+.1f}{se} %" + (" ★" if self.significant else "")


@dataclass(frozen=True)
class _Run:
    path: Path
    metrics: dict[str, Any]
    costs: dict[str, Any]
    config: dict[str, Any]


def _load(run: Path) -> _Run:
    for name in ("metrics.json", "costs.json", "config.toml"):
        if not (run / name).is_file():
            raise ValueError(f"run_dirs: {run} has no {name} (not a finished opc run)")
    with (run / "config.toml").open("rb") as fh:
        cfg = tomllib.load(fh)
    return _Run(
        run,
        json.loads((run / "metrics.json").read_text(encoding="utf-8")),
        json.loads((run / "costs.json").read_text(encoding="utf-8")),
        cfg,
    )


def _group(run_dirs: Sequence[str | Path]) -> dict[str, list[_Run]]:
    if not run_dirs:
        raise ValueError("run_dirs: expected at least one run directory")
    groups: dict[str, list[_Run]] = {}
    for r in run_dirs:
        run = _load(Path(r))
        groups.setdefault(run.config["problem"], []).append(run)
    for problem, runs in groups.items():
        profiles = sorted({r.config["profile"] for r in runs})
        seeds = [r.config["seed"] for r in runs]
        methods = {tuple(r.config["methods"]) for r in runs}
        if len(profiles) != 1 or len(set(seeds)) != len(seeds) or len(methods) != 1:
            raise ValueError(
                f"run_dirs: expected one profile, one method list and distinct seeds per "
                f"problem, got for {problem}: profiles {profiles}, seeds {seeds}, "
                f"{len(methods)} method lists"
            )
        runs.sort(key=lambda r: r.config["seed"])
    return groups


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def _ratio_change(runs: Sequence[_Run], split: str, new: str, old: str, key: str = "mse") -> Stat:
    """Paired 1 − new/old over seeds."""
    vals = []
    for r in runs:
        a, b = r.metrics[split][new][key], r.metrics[split][old][key]
        vals.append(1 - a / b if a is not None and b else None)
    return Stat.of(vals)


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _verdicts(runs: Sequence[_Run], splits: Sequence[str], methods: Sequence[str]) -> list[str]:
    """One line per split: the post-hoc methods whose MSE the update lowers by ≥ 2 SE (paired
    over seeds), those it does not (smaller change or worse), and the best model after it."""
    out = []
    post_hoc = [m for m in methods if m in _POST_HOC]
    for s in splits:
        better, other = [], []
        for m in post_hoc:
            gain = _ratio_change(runs, s, f"{m}+pc", m)
            if gain.mean > 0 and gain.significant:
                better.append(f"{m} by {gain.pct()}")
            else:
                why = "worse" if gain.mean < 0 and gain.significant else "< 2 SE"
                why = "no SE with one seed" if math.isnan(gain.se) else why
                other.append(f"{m} ({gain.pct()}, {why})")
        name = "in domain (test)" if s == "test" else f"OOD {s}"
        text = (
            f"ProbConserv improves the MSE of {', '.join(better)}"
            if better
            else ("ProbConserv does not improve the MSE of any post-hoc model by ≥ 2 SE")
        )
        if other:
            text += f"; does not for {', '.join(other)}" if better else f": {', '.join(other)}"
        after = {m: Stat.of([r.metrics[s][f"{m}+pc"]["mse"] for r in runs]) for m in methods}
        best = min(after, key=lambda m: after[m].mean)
        out.append(
            f"- **{name}**: {text}. Lowest MSE after the update: `{best}` ({after[best].fmt()})."
        )
    return out


def _section(problem: str, runs: Sequence[_Run], command: str | None) -> str:
    first = runs[0]
    profile = first.config["profile"]
    seeds = [r.config["seed"] for r in runs]
    methods = list(first.config["methods"])
    splits = list(first.metrics)
    n = len(runs)
    out = [f"## {problem}, profile {profile}, seeds {seeds} (mean ± SE over n = {n})\n"]
    if n < 3:
        out.append(f"**Only {n} seed(s): below the issue's floor of 3; do not read the ★.**\n")
    out.append(
        "Generated"
        + (f" by `{command}`" if command else "")
        + " from "
        + ", ".join(f"`{r.path}`" for r in runs)
        + ". SE = sd/√n over seeds; a change is "
        "computed per seed, then mean ± SE (paired); ★: |mean| ≥ 2 SE. Positive change = the "
        "update lowers the MSE.\n"
    )

    out += ["### Verdict per split (post-hoc ProbConserv, change of MSE 1 − after/before)\n"]
    out += _verdicts(runs, splits, methods)

    def cell(fn: Callable[[str, str], str]) -> list[list[str]]:
        return [[m, *(fn(m, s) for s in splits)] for m in methods]

    def stat(m: str, s: str, key: str) -> Stat:
        return Stat.of([r.metrics[s][m][key] for r in runs])

    out += [
        "\n### MSE before → after the update (change 1 − after/before, paired)\n",
        "The `*_e2e` rows' raw output (before) was never trained to be used alone.\n",
    ]
    out += _table(
        ["method", *splits],
        cell(
            lambda m, s: (
                f"{stat(m, s, 'mse').fmt()} → {stat(m + '+pc', s, 'mse').fmt()} "
                f"({_ratio_change(runs, s, m + '+pc', m).pct()})"
            )
        ),
    )

    def worst_ce(m: str) -> float:
        vals = [r.metrics[s][m]["ce_rel"] for r in runs for s in splits]
        return math.inf if any(v is None for v in vals) else max(vals)

    ce_after = {m: worst_ce(m + "+pc") for m in methods}
    ce_before = {m: worst_ce(m) for m in methods}
    worst = max(ce_after.values())
    verdict = "meets" if worst <= CE_TOLERANCE else "**fails**"
    out += [
        "\n### Conservation error (relative, max over seeds and splits)\n",
        f"After the update the worst is {worst:.2g}: {verdict} ≤ {CE_TOLERANCE:g}.\n",
    ]
    out += _table(
        ["method", "before", "after"],
        [[m, f"{ce_before[m]:.2g}", f"{ce_after[m]:.2g}"] for m in methods],
    )

    if "diverse" in methods and "ensemble" in methods:
        out += ["\n### n-MeRCI (lower is better): DiverseNO vs the ensemble, before / after\n"]
        rows = []
        for s in splits:
            cells = [s]
            for suffix in ("", "+pc"):
                d = Stat.of(
                    [
                        _diff(
                            r.metrics[s][f"diverse{suffix}"]["nmerci"],
                            r.metrics[s][f"ensemble{suffix}"]["nmerci"],
                        )
                        for r in runs
                    ]
                )
                cells += [
                    stat("ensemble" + suffix, s, "nmerci").fmt(),
                    stat("diverse" + suffix, s, "nmerci").fmt(),
                    d.fmt() + (" ★" if d.significant else ""),
                ]
            rows.append(cells)
        out += _table(
            [
                "split",
                "ensemble",
                "DiverseNO",
                "DiverseNO − ensemble",
                "ensemble+pc",
                "DiverseNO+pc",
                "difference +pc",
            ],
            rows,
        )

    if "ensemble" in methods:
        m_count = first.config["uq"]["n_members"]
        one = [r.costs["ensemble"]["train_cpu_s"] / m_count for r in runs]
        resumed = sorted({m for r in runs for m in methods if r.costs[m].get("resumed_from")})
        out += [f"\n### Training CPU seconds, relative to one FNO (ensemble / M, M = {m_count})\n"]
        rows = []
        ratios: dict[str, Stat] = {}
        for m in methods:
            cpu = [r.costs[m]["train_cpu_s"] for r in runs]
            ratios[m] = Stat.of([c / o for c, o in zip(cpu, one, strict=True)])
            rows.append(
                [m, Stat.of(cpu).fmt(".4g"), ratios[m].fmt(), str(first.costs[m]["parameters"])]
            )
        out += _table(["method", "train CPU s", "ratio to one FNO", "parameters"], rows)
        checks = []
        if "diverse" in ratios:
            ok = "meets" if ratios["diverse"].mean <= 1.5 else "**fails**"
            checks.append(f"DiverseNO {ratios['diverse'].fmt()}× one FNO ({ok} ≤ 1.5×)")
        checks.append(f"ensemble {ratios['ensemble'].fmt()}× (M = {m_count})")
        out.append("\n" + "; ".join(checks) + ". CPU times of one thread under the machine's load.")
        if resumed:
            out.append(
                f"Resumed runs ({', '.join(resumed)}): their CPU time covers only the resumed part."
            )

    twins = [m for m in methods if f"{m}_e2e" in methods]
    if twins:
        out += ["\n### Post hoc vs end to end (after the update): CRPS / MSE\n"]
        rows = []
        for t in twins:
            for m in (t, f"{t}_e2e"):
                pc = f"{m}+pc"
                rows.append(
                    [
                        m,
                        *(
                            f"{stat(pc, s, 'crps').fmt()} / {stat(pc, s, 'mse').fmt()}"
                            for s in splits
                        ),
                    ]
                )
            e2e, post = f"{t}_e2e+pc", f"{t}+pc"
            rows.append(
                [
                    f"{t}: 1 − MSE_e2e/MSE_post-hoc",
                    *(_ratio_change(runs, s, e2e, post).pct() for s in splits),
                ]
            )
        out += _table(["method", *splits], rows)

    out += ["\n### 95 % coverage and interval width, before → after the update\n"]
    out += _table(
        ["method", *splits],
        cell(
            lambda m, s: (
                f"{stat(m, s, 'coverage').fmt('.2f')} → "
                f"{stat(m + '+pc', s, 'coverage').fmt('.2f')} / "
                f"{stat(m, s, 'piw').fmt()} → {stat(m + '+pc', s, 'piw').fmt()}"
            )
        ),
    )
    return "\n".join(out) + "\n"


def summarize_groups(run_dirs: Sequence[str | Path], command: str | None = None) -> dict[str, str]:
    """{problem: Markdown section} (module docstring); ``ValueError`` for unfinished runs, or
    runs of one problem with several profiles, method lists or repeated seeds."""
    return {p: _section(p, runs, command) for p, runs in _group(run_dirs).items()}


def summarize(run_dirs: Sequence[str | Path], command: str | None = None) -> str:
    """All sections of :func:`summarize_groups`, concatenated."""
    return "\n".join(summarize_groups(run_dirs, command).values())


def update_doc(doc: Path | str, problem: str, markdown: str) -> Path:
    """Replace the section of ``problem`` in the markdown file ``doc`` (between its start and
    end markers) by ``markdown``; appended with markers when absent. Written atomically."""
    start = _MARK.format(problem=problem, end="start")
    end = _MARK.format(problem=problem, end="end")
    return replace_marked_section(doc, start, end, markdown)
