"""``pcml demo``: the main job — ProbConserv on the Stefan problem and BOON on heat with an
insulator, at a small built-in size, with a summary table and a self-contained report."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from .._locks import RunFileError


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("runs/demo"),
    show_default=True,
    help="Run directory: config.toml, command.txt, metrics.json, table.md, figures/, report.html "
    "and the two complete sub-runs stefan/ and heat/ (checkpoints, logs, data). Re-running the "
    "same command there reuses finished parts and resumes interrupted ones.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Model-initialisation, data-order and prediction seed of both parts (the data stay "
    "the same).",
)
@click.option(
    "--size",
    type=click.Choice(["default", "tiny"]),
    default="default",
    hidden=True,
    help="Size preset; 'tiny' (seconds, meaningless numbers) is for the test suite.",
)
@click.option("--no-progress", is_flag=True, help="Hide the training progress bars.")
def demo(out: Path, seed: int, size: str, no_progress: bool) -> None:
    """Show what pcml is for, in a few CPU minutes, with no data or GPU.

    \b
    1. Stefan problem: an attentive neural process (ANP) and the same ANP conditioned on the
       conservation law (ProbConserv-ANP): conservation error, MSE, shock position.
    2. Heat with an insulator at x = 0: a plain FNO and BOON (Neumann conditions by
       construction): boundary-flux error at both ends, relative L2 error.

    Prints a summary table and writes OUT/report.html: what each problem is and its key
    result, one metric table per problem, the figures with measured captions and training
    curves, the configuration and the commands (`pcml report OUT` rebuilds it byte for byte).
    """
    from ..experiments.demo import demo_config, format_summary, run_demo

    cfg = demo_config(size, seed)
    argv = ["pcml", "demo", "--out", str(out), "--seed", str(seed)]
    argv += [] if size == "default" else ["--size", size]
    argv += ["--no-progress"] * no_progress
    try:
        result = run_demo(
            cfg,
            out,
            command=shlex.join(argv),
            progress=not no_progress,
            log=lambda s: click.echo(s, err=True),
        )
    except RunFileError:
        raise  # one line with its own exit status (pcml.cli._Main)
    except (ValueError, RuntimeError) as err:
        raise click.ClickException(str(err)) from err
    click.echo("")
    click.echo(format_summary(result.rows))
    parts = ", ".join(
        f"{part} " + ("reused" if result.reused[part] else f"{result.timings[part + '_s']:.0f} s")
        for part in result.reused
    )
    click.echo(f"time: {result.timings['total_s']:.0f} s ({parts})")
    click.echo(f"report: {result.report}")
