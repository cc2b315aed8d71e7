"""``pcml data``: inspect HDF5 datasets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    import numpy as np

    from ..data import PDEData


@click.group()
def data() -> None:
    """Inspect pcml HDF5 datasets."""


@data.command("info")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def info(file: Path) -> None:
    """Print what FILE holds: fields, grids, parameters, boundary conditions, conserved
    quantity and point sets. Reads the metadata, then each array block by block (bounded
    memory, never a whole field), verifying every checksum; refuses links to other files."""
    from ..data.store import read_info

    try:
        dataset, ranges = read_info(file)
    except (ValueError, OSError) as err:
        msg = str(err)
        raise click.ClickException(msg if str(file) in msg else f"{file}: {msg}") from err
    click.echo(format_info(file, dataset, ranges))


def _num(x: Any) -> str:
    v = x.item() if hasattr(x, "item") else x
    return str(v) if isinstance(v, bool | int | str) else f"{v:.6g}"


def _range(a: np.ndarray) -> tuple[str, str]:
    return ("-", "-") if a.size == 0 else (_num(a.min()), _num(a.max()))


def _streamed(
    ranges: Mapping[str, tuple[Any, Any] | None] | None, name: str, a: np.ndarray
) -> tuple[str, str]:
    """The range of HDF5 dataset ``name`` from ``ranges`` (streamed), else of ``a``."""
    if ranges is None:
        return _range(a)
    r = ranges.get(name)
    return ("-", "-") if r is None else (_num(r[0]), _num(r[1]))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return [indent + "(none)"]
    cells = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[j]) for r in cells) for j in range(len(header))]
    return [
        indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in cells
    ]


def format_info(
    path: Path, d: PDEData, ranges: Mapping[str, tuple[Any, Any] | None] | None = None
) -> str:
    """The text printed by ``pcml data info``. ``ranges``: ``{HDF5 dataset name: (min, max)}``
    for the fields and point sets (:func:`pcml.data.store.read_info`); without it they are
    computed from ``d``'s arrays."""
    shape = lambda a: str(tuple(int(s) for s in a.shape))  # noqa: E731
    version = f" (version {d.generator_version})" if d.generator_version else ""
    lines = [f"file  {path}"]
    lines += _table(
        ("key", "value"),
        [
            ("name", d.name),
            ("generator", (d.generator or "-") + version),
            ("seed", "-" if d.seed is None else str(d.seed)),
            ("n_traj", str(d.n_traj)),
            ("n_steps", str(d.n_steps)),
        ],
    )[1:]
    lines += ["", "fields"]
    lines += _table(
        ("name", "shape", "dtype", "min", "max"),
        [
            (k, shape(v), str(v.dtype), *_streamed(ranges, f"/t0_fields/{k}", v))
            for k, v in d.fields.items()
        ],
    )
    time_size = "x".join(str(s) for s in d.time.shape)
    lines += ["", "grids"]
    lines += _table(
        ("dim", "size", "dtype", "min", "max"),
        [("time", time_size, str(d.time.dtype), *_range(d.time))]
        + [(k, str(c.shape[0]), str(c.dtype), *_range(c)) for k, c in d.coords.items()],
    )
    lines += ["", "parameters (per trajectory)"]
    lines += _table(
        ("name", "dtype", "min", "max"),
        [(k, str(p.dtype), *_range(p)) for k, p in d.params.items()],
    )
    lines += ["", "constants"]
    lines += _table(
        ("name", "type", "value"),
        [(k, type(v).__name__, repr(v)) for k, v in d.constants.items()],
    )
    faces = {(b.axis, b.side): b for b in d.boundary}

    def face(axis: str, side: str) -> str:
        b = faces.get((axis, side))
        if b is None:
            return "-"
        text = b.kind if b.values is None else f"{b.kind} values {shape(b.values)}"
        return text + (f" order {b.stencil_order}" if b.stencil_order is not None else "")

    lines += ["", "boundary conditions"]
    axes = [a for a in d.coords if any(b.axis == a for b in d.boundary)]
    lines += _table(
        ("axis", "lower", "upper"), [(a, face(a, "lower"), face(a, "upper")) for a in axes]
    )
    lines += ["", "conserved"]
    c = d.conserved
    rows = []
    if c is not None:
        rows = [
            ("quantity", c.quantity),
            ("rule", c.rule),
            ("derivation", c.derivation),
            ("domain", str(c.domain)),
            (
                "b(t)",
                f"{shape(c.mass_rhs)} {c.mass_rhs.dtype} range [{', '.join(_range(c.mass_rhs))}]",
            ),
        ]
    lines += _table(("key", "value"), rows)[(1 if rows else 0) :]
    lines += ["", "points"]
    p = d.points
    point_rows = []
    if p is not None:
        for name in ("context_inputs", "context_values", "target_inputs", "target_values"):
            a = getattr(p, name)
            point_rows.append(
                (name, shape(a), str(a.dtype), *_streamed(ranges, f"/points/{name}", a))
            )
    lines += _table(("set", "shape", "dtype", "min", "max"), point_rows)
    return "\n".join(lines)
