"""``pcml boon``: the BOON experiments (reference: docs/results/boon.md)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from ._options import (
    config_options,
    doc_option,
    echo_log,
    echo_result,
    out_option,
    profile_option,
    run_experiment,
    run_options,
    toml_names,
)
from ._validate import resolve_config


def _case_names() -> list[str]:
    from ..experiments.boon.cases import CASES

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
    help="Comma-separated subset of fno, boon, boon_reference, boon_none, fno_bc, fno_soft "
    "(default: the first three; boon_none = BOON without kernel elimination, an ablation; "
    "fno_bc = FNO with the boundary data as input channels; fno_soft = FNO with a boundary "
    "penalty, its weight chosen on validation: needs --set data.n_val=N).",
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
    from ..experiments.boon.config import make_config
    from ..experiments.boon.runner import run

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
    run_experiment(run, cfg, out, shlex.join(["pcml", *sys.argv[1:]]), no_progress, no_figures)
    echo_result(lambda: (out / "table.md").read_text(encoding="utf-8"))


@boon.command("study")
@click.argument("case", type=click.Choice(_case_names()))
@click.option(
    "--seeds",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Number of seeds (0 … N-1; each seed sets the weight initialisation and data order).",
)
@profile_option("Size preset of every seed's run (as `pcml boon run`).")
@click.option("--multi-step", is_flag=True, help="The multi-step task (as `pcml boon run`).")
@out_option(
    "Study directory: seed<s>/ (one run directory per seed; re-running resumes each), "
    "study.json (every mean, SE and paired difference), study.md (the tables)."
)
@config_options(
    "TOML file applied on top of the profile (as `pcml boon run`).",
    "Override one setting of every seed's run (repeatable), e.g. --set train.epochs=50.",
)
@doc_option(
    "Also write study.md into this markdown page, replacing the case's section between "
    "<!-- boon-study:CASE:start --> and <!-- boon-study:CASE:end --> (appended if absent).",
)
@click.option(
    "--retrain",
    default=None,
    metavar="MODELS",
    help="Comma-separated models of the study (e.g. boon_extension) to train again from "
    "scratch in every existing seed directory, after the directory is checked to hold this "
    "run's config: their checkpoints are kept as *.replaced-<time>; every other model resumes "
    "from its checkpoint (accepted only if its config matches) and is re-evaluated; study.json, "
    "study.md and --doc are rebuilt from all of them. For a model whose code changed while its "
    "config did not (a changed config is refused, never resumed).",
)
@click.option(
    "--collect",
    is_flag=True,
    help="Train and evaluate nothing: rebuild study.json, study.md and --doc from every seed's "
    "finished metrics.json, after checking that the seed directory holds exactly this config "
    "and that each model's last checkpoint finished its epochs with this config before "
    "metrics.json was written (for seeds run side by side, one process each).",
)
@click.option("--no-progress", is_flag=True, help="Hide the training progress bars.")
@click.option("--figures", is_flag=True, help="Write each seed's figures and report.html.")
def study_cmd(
    case: str,
    seeds: int,
    profile: str,
    multi_step: bool,
    out: Path,
    config_file: Path | None,
    overrides: tuple[str, ...],
    doc: Path | None,
    retrain: str | None,
    collect: bool,
    no_progress: bool,
    figures: bool,
) -> None:
    """Train fno, fno_bc (boundary data as input channels), fno_soft (boundary penalty, weight
    chosen on validation) and BOON on CASE for several seeds; evaluate in distribution, on
    out-of-distribution boundary data and at 2x / 4x resolution; write mean ± SE and paired
    differences to fno_bc."""
    from ..experiments.boon.study import format_study, run_study, study_config, update_doc

    names = tuple(m.strip() for m in retrain.split(",")) if retrain is not None else ()
    try:  # every seed's config is checked before any work starts
        for s in range(seeds):
            models = study_config(case, profile, s, multi_step, config_file, overrides).models
    except ValueError as err:
        raise click.BadParameter(str(err)) from err
    if any(m not in models for m in names) or len(set(names)) != len(names):
        raise click.BadParameter(
            f"{retrain!r}: expected distinct models of the study {', '.join(models)}",
            param_hint="'--retrain'",
        )
    if collect and names:
        raise click.BadParameter("--collect reads finished seeds; drop --retrain")
    command = shlex.join(["pcml", *_without_retrain(sys.argv[1:])])
    result = run_study(
        case, seeds, profile, out, multi_step, config_file, overrides, command=command,
        progress=not no_progress, figures=figures, log=echo_log, retrain=names, collect=collect,
    )  # fmt: skip
    text = format_study(case, result, command, result["info"])
    if doc is not None:
        update_doc(doc, case, text)
    click.echo(text)


def _without_retrain(argv: list[str]) -> list[str]:
    """The command line without ``--retrain MODELS`` and ``--collect``: the command that
    reproduces the study (recorded in command.txt and the doc) is the plain one."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--retrain":
            skip = True
        elif arg != "--collect" and not arg.startswith("--retrain="):
            out.append(arg)
    return out
