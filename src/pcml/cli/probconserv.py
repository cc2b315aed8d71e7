"""``pcml probconserv``: the ProbConserv experiments (reference: docs/results/probconserv.md)."""

from __future__ import annotations

import shlex
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

PROBLEM_NAMES = ("diffusion", "pme", "stefan", "advection", "burgers")


@click.group()
def probconserv() -> None:
    """ProbConserv: condition a probabilistic model on the integral form of a conservation law."""


@probconserv.command("run")
@click.argument("problem", type=click.Choice(PROBLEM_NAMES))
@profile_option(
    "Size preset: smoke (seconds, for tests), quick (about 15 min on 2 CPU cores), paper "
    "(the article's settings, for a GPU)."
)
@out_option(
    "Run directory: config.toml, command.txt, data/, checkpoints/, metrics.json, table.md, "
    "figures, report.html. Re-running the same command there resumes."
)
@config_options(
    "TOML file applied on top of the profile (same tables as the saved config.toml).",
    "Override one setting (repeatable), KEY a dotted path and VALUE a TOML literal, e.g. "
    "--set train.anp.lr=1e-3 --set data.n_train=1000 --set n_latent_samples=32. Your own "
    "question: --set problem.test_values=[0.65] --set problem.t_star=0.08 (also "
    "problem.train_range, problem.t_range); values outside the closed form's validity are "
    "refused with the valid range.",
)
@click.option(
    "--inequality",
    type=click.Choice(["none", "nonneg", "monotone"]),
    default=None,
    help="Inequality post-step on the probconserv_* means (mass kept exactly). Default: the "
    "config's (none).",
)
@click.option(
    "--methods",
    default=None,
    help="Comma-separated subset of anp, softc_anp, hardc_anp, probconserv_anp, "
    "probconserv_anp_noisy, probconserv_anp_bounded, ensemble, probconserv_ensemble, gp, "
    "probconserv_gp (default: all).",
)
@run_options(
    "Model/prediction seed (default: config's).",
    "Training device for every backbone (default: the profile's).",
)
def run_cmd(
    problem: str,
    profile: str,
    out: Path,
    config_file: Path | None,
    overrides: tuple[str, ...],
    inequality: str | None,
    methods: str | None,
    seed: int | None,
    device: str | None,
    no_progress: bool,
    no_figures: bool,
) -> None:
    """Train and evaluate every method on PROBLEM; write metrics.json, table.md, figures."""
    from ..experiments.probconserv import run
    from ..experiments.probconserv_config import make_config

    sets = list(overrides)
    if inequality is not None:
        sets.append(f'inequality="{inequality}"')
    if methods is not None:
        sets.append(f"methods={toml_names(methods)}")
    if seed is not None:
        sets.append(f"seed={seed}")
    if device is not None:
        sets += [f'train.{k}.device="{device}"' for k in ("anp", "softc", "ensemble", "gp")]
    cfg = resolve_config(
        lambda: make_config(problem, profile, config_file, sets),
        out=out,
        config_file=config_file,
        sets=sets,
        overrides=overrides,
        seed=seed,
        flags={"inequality": "--inequality", "methods": "--methods", "seed": "--seed"}
        | {f"train.{k}.device": "--device" for k in ("anp", "softc", "ensemble", "gp")},
    )
    flags = (("--inequality", inequality), ("--methods", methods), ("--seed", seed))
    command = command_line(
        ["pcml", "probconserv", "run", problem, "--profile", profile, "--out", str(out)],
        config_file,
        overrides,
        (*flags, ("--device", device)),
        no_progress,
        no_figures,
    )
    run_experiment(run, cfg, out, command, no_progress, no_figures)
    echo_result(lambda: (out / "table.md").read_text(encoding="utf-8"))
    echo_result(lambda: f"wrote {out}/metrics.json")


@probconserv.command("multi")
@out_option("Run directory: config.toml, command.txt, metrics.json, table.md.")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a MultiConfig field (repeatable), e.g. --set n_test=4 --set grid=15.",
)
def multi_cmd(out: Path, overrides: tuple[str, ...]) -> None:
    """Several laws at once (space-time masses + Dirichlet rows; 2-D heat mass + moments) on an
    exact-GP backbone; prints the table of MSE, log-likelihood and relative residuals."""
    import dataclasses
    import tomllib

    from ..experiments.probconserv_multi import MultiConfig, run_multi

    changes = {}
    names = {f.name for f in dataclasses.fields(MultiConfig)}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in names:
            raise click.BadParameter(
                f"got {item!r}, expected KEY=VALUE with KEY one of {sorted(names)}",
                param_hint="--set",
            )
        try:
            changes[key] = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            changes[key] = text
    try:
        cfg = MultiConfig(**changes)
    except (TypeError, ValueError) as err:
        raise click.BadParameter(str(err), param_hint="--set") from err
    argv = ["pcml", "probconserv", "multi", "--out", str(out)]
    for item in overrides:
        argv += ["--set", item]
    run_multi(cfg, out, command=shlex.join(argv))
    click.echo((out / "table.md").read_text(encoding="utf-8"))
    click.echo(f"wrote {out}/metrics.json")
