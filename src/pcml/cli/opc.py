"""``pcml opc``: Operator-ProbConserv (reference: docs/results/opc.md)."""

from __future__ import annotations

from pathlib import Path

import click

from ._options import (
    command_line,
    config_options,
    echo_result,
    out_option,
    profile_option,
    run_experiment,
    run_options,
    toml_names,
)
from ._validate import resolve_config

PROBLEM_NAMES = ("diffusion", "pme", "stefan", "advection")


@click.group()
def opc() -> None:
    """Operator-ProbConserv: UQ neural operators in and out of domain, made conservative."""


@opc.command("run")
@click.argument("problem", type=click.Choice(PROBLEM_NAMES))
@profile_option(
    "Size preset: smoke (seconds, for tests), quick (sized for <= 15 min on 2 CPU cores), "
    "paper (the follow-up's settings, for a GPU)."
)
@out_option(
    "Run directory: config.toml, command.txt, checkpoints/, metrics.json, table.md, "
    "costs.json, fields.json, figures, report.html. Re-running the same command resumes."
)
@config_options(
    "TOML file applied on top of the profile (same tables as the saved config.toml).",
    "Override one setting (repeatable), KEY a dotted path and VALUE a TOML literal, e.g. "
    "--set train.epochs=20 --set uq.n_members=3 --set joint=true.",
)
@click.option(
    "--methods",
    default=None,
    help="Comma-separated subset of ensemble, diverse, mcdropout, meanvar, diverse_e2e, "
    "meanvar_e2e (default: all).",
)
@run_options("Model/prediction seed (default: config's).", "Training device (default: profile's).")
def run_cmd(
    problem: str,
    profile: str,
    out: Path,
    config_file: Path | None,
    overrides: tuple[str, ...],
    methods: str | None,
    seed: int | None,
    device: str | None,
    no_progress: bool,
    no_figures: bool,
) -> None:
    """Train every UQ operator on PROBLEM, apply ProbConserv, evaluate in and out of domain."""
    from ..experiments.opc.config import make_config
    from ..experiments.opc.run import format_table, run

    sets = list(overrides)
    if methods is not None:
        sets.append(f"methods={toml_names(methods)}")
    if seed is not None:
        sets.append(f"seed={seed}")
    if device is not None:
        sets.append(f'train.device="{device}"')
    cfg = resolve_config(
        lambda: make_config(problem, profile, config_file, sets),
        out=out,
        config_file=config_file,
        sets=sets,
        overrides=overrides,
        seed=seed,
        flags={"methods": "--methods", "seed": "--seed", "train.device": "--device"},
    )
    command = command_line(
        ["pcml", "opc", "run", problem, "--profile", profile, "--out", str(out)],
        config_file,
        overrides,
        (("--methods", methods), ("--seed", seed), ("--device", device)),
        no_progress,
        no_figures,
    )
    metrics = run_experiment(run, cfg, out, command, no_progress, no_figures)
    echo_result(lambda: format_table(metrics, cfg))
    echo_result(lambda: f"wrote {out}/metrics.json")


@opc.command("summarize")
@click.argument(
    "run_dirs",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
)
def summarize_cmd(run_dirs: tuple[Path, ...]) -> None:
    """Mean ± SE over the RUN_DIRS (one problem and profile, different seeds) as Markdown."""
    from ..experiments.opc.summary import summarize

    try:
        text = summarize(run_dirs)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="RUN_DIRS") from err
    click.echo(text, nl=False)
