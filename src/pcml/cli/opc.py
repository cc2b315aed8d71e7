"""``pcml opc``: Operator-ProbConserv (reference: docs/results/opc.md)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from ._options import (
    command_line,
    config_options,
    doc_option,
    echo_result,
    out_option,
    profile_option,
    run_dirs_argument,
    run_experiment,
    run_options,
    toml_names,
)
from ._validate import resolve_config

PROBLEM_NAMES = ("diffusion", "pme", "stefan", "advection", "stefan_anp")


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
@run_dirs_argument()
@doc_option(
    "Also write each problem's section into this markdown page, replacing the text "
    "between <!-- opc:PROBLEM:start --> and <!-- opc:PROBLEM:end --> (appended if absent).",
)
def summarize_cmd(run_dirs: tuple[Path, ...], doc: Path | None) -> None:
    """Mean ± SE over the RUN_DIRS (grouped by problem; per problem one profile and different
    seeds) as Markdown: verdict per shift, MSE before/after, conservation error, n-MeRCI,
    training cost, post hoc vs end to end, coverage/width."""
    from ..experiments.opc.summary import summarize_groups, update_doc

    if doc is not None and doc.exists() and not doc.is_file():
        raise click.BadParameter(f"{doc} is not a file", param_hint="--doc")
    command = shlex.join(["pcml", "opc", "summarize", *map(str, run_dirs)]
                         + ([] if doc is None else ["--doc", str(doc)]))  # fmt: skip
    try:
        sections = summarize_groups(run_dirs, command)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="RUN_DIRS") from err
    if doc is not None:
        for problem, text in sections.items():
            update_doc(doc, problem, text)
    click.echo("\n".join(sections.values()), nl=False)
    if doc is not None:
        click.echo(f"wrote {', '.join(sections)} into {doc}")


@opc.command("anp-compare")
@run_dirs_argument()
@click.option(
    "--anp",
    "anp_runs",
    required=True,
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A finished `pcml probconserv run stefan` directory (its metrics.json and config.toml) "
    "whose ANP rows are the reference; repeat it for several ANP seeds (same test functions, "
    "different seeds): the ANP rows are then mean ± SE over them.",
)
@doc_option(
    "Also write the comparison into this markdown page between "
    "<!-- opc:stefan-vs-anp:start --> and <!-- opc:stefan-vs-anp:end --> (appended if absent).",
)
@click.option(
    "--methods",
    default=None,
    help="Comma-separated subset of the runs' methods to score (default: all of them).",
)
def anp_compare_cmd(
    run_dirs: tuple[Path, ...], anp_runs: tuple[Path, ...], doc: Path | None, methods: str | None
) -> None:
    """Score finished `pcml opc run stefan_anp` RUN_DIRS (one per seed) as the ProbConserv
    Stefan experiment does (MSE at t* = 0.05 on 201 points, u* = 0.5 and 0.6) before and after
    the update, next to the quick ANP runs of --anp."""
    from ..experiments.opc.anp_compare import (
        anp_references,
        anp_setting_metrics,
        format_anp_comparison,
    )
    from ..experiments.opc.summary import update_doc

    try:
        references = anp_references(anp_runs)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--anp") from err
    try:
        chosen = None if methods is None else [m.strip() for m in methods.split(",")]
        per_seed = [anp_setting_metrics(r, methods=chosen) for r in run_dirs]
    except (ValueError, FileNotFoundError) as err:
        raise click.BadParameter(str(err), param_hint="RUN_DIRS") from err
    argv = ["pcml", "opc", "anp-compare", *map(str, run_dirs)]
    argv += [a for r in anp_runs for a in ("--anp", str(r))]
    argv += [] if methods is None else ["--methods", methods]
    command = shlex.join(argv + ([] if doc is None else ["--doc", str(doc)]))
    text = f"Generated by `{command}`.\n\n" + format_anp_comparison(per_seed, references)
    if doc is not None:
        update_doc(doc, "stefan-vs-anp", text)
    click.echo(text, nl=False)
