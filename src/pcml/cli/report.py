"""``pcml report DIR``: rebuild a run directory's self-contained ``report.html``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--title",
    default=None,
    help="Page title (default: the title in DIR/story.json, e.g. the demo's, else "
    "'pcml run: <DIR name>').",
)
def report(run_dir: Path, title: str | None) -> None:
    """Rebuild RUN_DIR/report.html from the files of the run directory RUN_DIR.

    The page embeds the metric tables (metrics.json), table.md, every figures/*.png with its
    caption, the resolved config (config.toml) and the command to reproduce the run
    (command.txt); a directory with a story.json (pcml demo) gets its story page. The page holds
    no path and no time: rebuilding an unchanged directory reproduces it byte for byte.
    """
    from ..experiments.report import build_report

    try:
        path = build_report(run_dir, title=title)
    except (FileNotFoundError, ValueError) as err:
        raise click.ClickException(str(err)) from err
    click.echo(f"wrote {path}")
