"""``pcml boon``: the BOON experiments (reference: docs/results/boon.md)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ._options import (
    config_options,
    echo_log,
    echo_result,
    out_option,
    profile_option,
    rank_run_dir,
    run_options,
    toml_names,
)
from ._validate import resolve_config


def _case_names() -> list[str]:
    from ..experiments.boon_cases import CASES

    return sorted(CASES)


@click.group()
def boon() -> None:
    """BOON: Fourier neural operators whose kernels are corrected so that Dirichlet, Neumann or
    periodic boundary conditions hold by construction, compared with a plain FNO."""


@boon.command("run")
@click.argument("case", type=click.Choice(_case_names()))
@profile_option(
    "Size preset: smoke (seconds, for tests), quick (<= ~15 min per case on 2 CPU cores, "
    "the reported numbers), paper (the article's settings: N=500, 500/100 or 1000/200 splits, "
    "FNO1d 16/64 or FNO2d 12x12/32, 500 epochs, batch 20; for a GPU)."
)
@click.option(
    "--multi-step",
    is_flag=True,
    help="Predict 25 frames jointly from u0 with an (x, t) FNO (input repeated over the frames, "
    "t padded by the profile, BCs along x, one boundary value per frame) instead of u0 -> "
    "u(t_final) with a 1-D FNO.",
)
@out_option(
    "Run directory: config.toml, command.txt, data/<hash>/*.h5, checkpoints/, logs/, "
    "metrics.json, details.json, table.md, figures/, report.html. Re-running the same command "
    "there resumes from the last checkpoints and reuses the data."
)
@config_options(
    "TOML file applied on top of the profile (same tables as a saved config.toml: [data], "
    "[model], [train], [boon]).",
    "Override one setting (repeatable); KEY a dotted path, VALUE a TOML literal, e.g. "
    "--set train.epochs=50 --set data.n_x=128 --set 'model.n_modes=[12]' "
    "--set 'boon.neumann_orders=[1, 3]'.",
)
@click.option("--epochs", type=int, default=None, help="Training epochs (= --set train.epochs=N).")
@click.option(
    "--models",
    default=None,
    help="Comma-separated subset of fno, boon, boon_reference, boon_none (default: the first "
    "three; boon_none = BOON without kernel elimination, an ablation).",
)
@run_options(
    "Weight-initialisation seed shared by all models.",
    "Training device (= --set train.device=...; default: the profile's, cpu).",
)
def run_cmd(
    case: str,
    profile: str,
    multi_step: bool,
    out: Path,
    config_file: Path | None,
    overrides: tuple[str, ...],
    epochs: int | None,
    models: str | None,
    seed: int | None,
    device: str | None,
    no_progress: bool,
    no_figures: bool,
) -> None:
    """Train a plain FNO, BOON and BOON (reference mode) on CASE with identical settings and
    evaluate them on the test split; write metrics.json, table.md, figures and report.html."""
    from ..experiments.boon import run
    from ..experiments.boon_config import make_config

    sets = list(overrides)
    if epochs is not None:
        sets.append(f"train.epochs={epochs}")
    if models is not None:
        sets.append(f"models={toml_names(models)}")
    if seed is not None:
        sets.append(f"seed={seed}")
    if device is not None:
        sets.append(f'train.device="{device}"')
    cfg = resolve_config(
        lambda: make_config(case, profile, multi_step, config_file, sets),
        out=out,
        config_file=config_file,
        sets=sets,
        overrides=overrides,
        seed=seed,
        flags={"train.epochs": "--epochs", "models": "--models", "seed": "--seed"}
        | {"train.device": "--device"},
    )
    command = shlex.join(["pcml", *sys.argv[1:]])
    with rank_run_dir(out) as (run_out, main_rank):
        run(
            cfg,
            run_out,
            command=command,
            progress=not no_progress,
            figures=not no_figures and main_rank,
            log=echo_log,
        )
    echo_result(lambda: (out / "table.md").read_text(encoding="utf-8"))
