r"""How the data of a BOON case become tensors, models, metrics and outputs: one layout per
family of cases (``BoonCase.layout``), used by the one run loop
:func:`pcml.experiments.boon.runner.run`.

* :class:`Layout1D` — 1-D cases, single- or multi-step: ``data.h5`` holds ``n_train + n_val +
  n_test`` trajectories split by index (train first, test last, as the article), ``data_2x`` /
  ``data_4x`` the same trajectories generated at 2× / 4× the resolution, ``data_ood`` (varied
  boundary data) ``n_test`` trajectories (data seed + 1000) from the case's OOD ranges; the
  boundary values per face and target time are ``bc_<face>`` tensors (B,[ T]).
* :class:`Layout2D` — 2-D + time (cavity, wave2d): independent draws ``train`` (seed),
  ``test`` (seed + 1), ``val`` (seed + 2), ``test_ood`` (seed + 3), ``test_2x`` / ``test_4x``
  (the test draws on grids of spacing h/2, h/4); the wall data per face are ``bc_<face>``
  tensors (B, C, n_wall, 1), the cavity's lift ``lift`` (B, C, n_x, n_y).

Every split is a dict of tensors ``{"x", "y", "bc_<face>"[, "lift"]}``; a layout builds the
models (:mod:`pcml.experiments.boon.models`), scores a prediction on a split
(:mod:`pcml.experiments.boon.metrics`), records the data floors, figures and the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from pcml.constraints.boundary import BoundaryConditions
from pcml.data import H5FieldDataset, PDEData, cached_dataset, read_dataset, write_dataset
from pcml.experiments.boon.cases import BoonCase, get_case
from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.boon.data2d import FACES, build_case_data, curl, to_tensors, wall_data
from pcml.experiments.boon.metrics import (
    boundary_conditions,
    field_metrics,
    metrics_2d,
    rel_l2_per_sample,
)
from pcml.experiments.boon.models import bc_batch, build_model, build_model_2d, target_scale
from pcml.experiments.boon.tables import format_table, format_table_2d
from pcml.experiments.config import config_hash, to_dict
from pcml.experiments.rundir import RunDir

__all__ = ["LAYOUTS", "Layout1D", "Layout2D", "RunData", "Split", "load_split"]

Split = dict[str, Tensor]
Log = Any  # Callable[[str], None]


def load_split(path: Path, multi_step: bool, indices: range) -> tuple[dict[str, Tensor], dict]:
    """Read trajectories ``indices`` through :class:`H5FieldDataset` into tensors.

    Returns ``{"x": (n, C, *space), "y": (n, C, *space[, T]), "bc_<face>": (n, *face[, T])}`` and
    ``bc_kinds`` ``{face: kind}``. Single-step targets are the last step, multi-step all steps
    after the input.
    """
    probe = H5FieldDataset(path)
    n_steps = probe.metadata.schema.n_steps
    probe.close()
    targets: Any = list(range(1, n_steps)) if multi_step else -1
    ds = H5FieldDataset(path, input_steps=0, target_steps=targets)
    items = [ds[i] for i in indices]
    out = {"x": torch.stack([it["x"] for it in items]), "y": torch.stack([it["y"] for it in items])}
    for face in items[0]["bc"]:
        out[f"bc_{face}"] = torch.stack([it["bc"][face] for it in items])
    ds.close()
    return out, dict(ds.metadata.bc_kinds)


@dataclass
class RunData:
    """Tensors of every split, the boundary conditions, the grid names, and layout extras."""

    splits: dict[str, Split]
    bcs: BoundaryConditions
    bc_kinds: dict[str, str]
    names: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def _folder(cfg: BoonConfig, out: Path, tag: dict[str, Any]) -> Path:
    key = config_hash({"case": cfg.case, **tag, "data": to_dict(cfg.data)})
    return out / "data" / key[:16]


class Layout1D:
    """1-D cases (single- or multi-step): one file per resolution, split by index."""

    def load(self, cfg: BoonConfig, case: BoonCase, out: Path, log: Log) -> RunData:
        d = cfg.data
        folder = _folder(cfg, out, {"multi_step": cfg.multi_step})
        folder.mkdir(parents=True, exist_ok=True)
        n_traj = d.n_train + d.n_val + d.n_test
        varied = d.boundary_data == "varied"
        kw = case.generator_kwargs("train") if varied else {}
        files = {"data": (d.n_x, n_traj, d.seed, kw)}
        if d.eval_2x:
            files["data_2x"] = (case.fine_n_x(d.n_x, 2), n_traj, d.seed, kw)
        if d.eval_4x:
            files["data_4x"] = (case.fine_n_x(d.n_x, 4), n_traj, d.seed, kw)
        if varied:
            files["data_ood"] = (d.n_x, d.n_test, d.seed + 1000, case.generator_kwargs("ood"))
        paths = {}
        for name, (n_x, n, seed, gen) in files.items():

            def build(name: str = name, n_x: int = n_x, n: int = n, seed: int = seed,
                      gen: dict = gen) -> PDEData:  # fmt: skip
                log(f"data: generating {name} ({n} trajectories, n_x={n_x})")
                return case.build(n_traj=n, n_x=n_x, multi_step=cfg.multi_step, seed=seed, **gen)

            paths[name] = cached_dataset(folder / f"{name}.h5", build, log)
        test = range(d.n_train + d.n_val, n_traj)
        splits: dict[str, Split] = {}
        splits["train"], bc_kinds = load_split(paths["data"], cfg.multi_step, range(d.n_train))
        if d.n_val:
            val = range(d.n_train, d.n_train + d.n_val)
            splits["val"] = load_split(paths["data"], cfg.multi_step, val)[0]
        splits["test"] = load_split(paths["data"], cfg.multi_step, test)[0]
        for name, split in (("data_ood", "ood"), ("data_2x", "2x"), ("data_4x", "4x")):
            if name in paths:
                rng = range(d.n_test) if split == "ood" else test
                splits[split] = load_split(paths[name], cfg.multi_step, rng)[0]
        bcs = boundary_conditions(bc_kinds, cfg.boon.neumann_orders)
        return RunData(splits, bcs, bc_kinds, case.grid_axes(cfg.multi_step))

    def faces(self, data: RunData) -> tuple[str, ...]:
        return tuple(k[3:] for k in data.splits["train"] if k.startswith("bc_"))

    def model(self, cfg: BoonConfig, key: str, data: RunData, scale: float) -> nn.Module:
        train = data.splits["train"]
        channels = (int(train["x"].shape[1]), int(train["y"].shape[1]))
        n_frames = int(train["y"].shape[-1]) if cfg.multi_step else None
        return build_model(cfg, key, data.bcs, channels, n_frames, scale, self.faces(data))

    def scale(self, cfg: BoonConfig, data: RunData) -> float:
        return target_scale(data.splits["train"]["y"]) if cfg.normalize_targets else 1.0

    def metrics(
        self, cfg: BoonConfig, data: RunData, pred: Tensor, split: Split, near: int
    ) -> dict[str, Any]:
        dtype = pred.dtype
        values = {k: v.to(dtype) for k, v in bc_batch(split).items()}
        return field_metrics(pred, split["y"].to(dtype), data.bcs, values, data.names, near)

    def finish(
        self, cfg: BoonConfig, m: dict[str, Any], n_params: int, loss: float, epochs: int
    ) -> None:
        m["n_parameters"] = float(n_params)
        m["final_train_loss"] = loss
        m["epochs"] = float(epochs)

    def per_key_details(
        self, cfg: BoonConfig, data: RunData, key: str, pred: Tensor, details: dict[str, Any]
    ) -> None:
        if cfg.multi_step:
            y = data.splits["test"]["y"].to(pred.dtype)
            per = rel_l2_per_sample(
                pred.movedim(-1, 1).flatten(0, 1), y.movedim(-1, 1).flatten(0, 1)
            )
            details["per_frame_rel_l2"][key] = per.reshape(y.shape[0], -1).mean(0).tolist()

    def floors(self, cfg: BoonConfig, data: RunData, details: dict[str, Any]) -> None:
        test = data.splits["test"]
        y64 = test["y"].to(torch.float64)
        vals = {k: v.double() for k, v in bc_batch(test).items()}
        floor = field_metrics(y64, y64, data.bcs, vals, data.names)
        details["data_boundary_residual"] = {k: v for k, v in floor.items() if "boundary" in k}

    def figures(
        self, rd: RunDir, cfg: BoonConfig, data: RunData, preds: dict[str, Tensor], details: Any,
        metrics: Any,
    ) -> None:  # fmt: skip
        from pcml.experiments.boon.plots import make_figures

        make_figures(rd, get_case(cfg.case), cfg, data.splits["test"], preds, details)

    def table(self, cfg: BoonConfig, metrics: Any, details: Any, command: str) -> str:
        return format_table(cfg, metrics, details, command)


class Layout2D:
    """2-D + time cases (cavity, wave2d): independent draws, walls as data, Surrogate2D."""

    _KIND: ClassVar[dict[str, str]] = {"cavity": "dirichlet", "wave2d": "neumann"}

    def load(self, cfg: BoonConfig, case: BoonCase, out: Path, log: Log) -> RunData:
        d = cfg.data
        if cfg.case not in self._KIND or not cfg.multi_step:
            raise ValueError(
                f"2-D runner: cfg.case must be one of {tuple(self._KIND)} (multi-step), got "
                f"{cfg.case!r}"
            )
        folder = _folder(cfg, out, {"runner": "boon2d"})
        kw: dict[str, Any] = {}
        if cfg.case == "wave2d":
            from pcml.experiments.boon.data2d import wave_modes

            kw = {"n_modes": wave_modes(d.n_x)}
        # name: (n_traj, n_x, seed, extra kwargs); 2x / 4x: the test draws on finer grids (the
        # cavity simulated on the fine grid itself, refine 1, so the targets are the same flow)
        varied = d.boundary_data == "varied"
        gen = case.generator_kwargs("train") if varied else {}
        spec: dict[str, tuple[int, int, int, dict[str, Any]]] = {
            "train": (d.n_train, d.n_x, d.seed, gen),
            "test": (d.n_test, d.n_x, d.seed + 1, gen),
        }
        refine1 = {"refine": 1, **gen} if cfg.case == "cavity" else gen
        if d.eval_2x:
            spec["test_2x"] = (d.n_test, case.fine_n_x(d.n_x, 2), d.seed + 1, refine1)
        if d.n_val:
            spec["val"] = (d.n_val, d.n_x, d.seed + 2, gen)
        if varied:
            spec["test_ood"] = (d.n_test, d.n_x, d.seed + 3, case.generator_kwargs("ood"))
        if d.eval_4x:
            spec["test_4x"] = (d.n_test, case.fine_n_x(d.n_x, 4), d.seed + 1, refine1)
        raw: dict[str, PDEData] = {}
        for name, (n, n_x, seed, extra) in spec.items():
            path = folder / f"{name}.h5"
            if path.exists():
                try:  # read_dataset verifies every checksum
                    raw[name] = read_dataset(path)
                    continue
                except ValueError as err:
                    log(f"data: regenerating {path.name}: {err}")
            log(f"data: generating {cfg.case} {name} {n}, n_x={n_x}")
            raw[name] = build_case_data(cfg.case, n, n_x, seed, **kw, **extra)
            folder.mkdir(parents=True, exist_ok=True)
            write_dataset(path, raw[name])
        rename = {"train": "train", "test": "test", "val": "val", "test_2x": "2x", "test_4x": "4x"}
        rename["test_ood"] = "ood"
        splits: dict[str, Split] = {}
        for name, pde in raw.items():
            t = to_tensors(pde, cfg.case)
            t.update({f"bc_{f}": w for f, w in wall_data(pde, cfg.case).items()})
            splits[rename[name]] = t
        kinds = dict.fromkeys(FACES, self._KIND[cfg.case])
        bcs = boundary_conditions(kinds, cfg.boon.neumann_orders)
        return RunData(splits, bcs, kinds, ("x", "y", "t"), {"raw_test": raw["test"]})

    def model(self, cfg: BoonConfig, key: str, data: RunData, scale: float) -> nn.Module:
        return build_model_2d(cfg, key, data.bcs, int(data.splits["train"]["x"].shape[1]))

    def scale(self, cfg: BoonConfig, data: RunData) -> float:
        return 1.0

    def metrics(
        self, cfg: BoonConfig, data: RunData, pred: Tensor, split: Split, near: int
    ) -> dict[str, Any]:
        walls = {k: v.to(pred.dtype) for k, v in bc_batch(split).items()}
        return metrics_2d(pred, split["y"].to(pred.dtype), data.bcs, walls, near, cfg.case)

    def finish(
        self, cfg: BoonConfig, m: dict[str, Any], n_params: int, loss: float, epochs: int
    ) -> None:
        m.update(n_parameters=n_params, final_train_loss=loss)
        m.update(epochs=epochs)  # train_s: wall-clock, in details.json (timings_s)

    def per_key_details(
        self, cfg: BoonConfig, data: RunData, key: str, pred: Tensor, details: dict[str, Any]
    ) -> None:
        return None

    def floors(self, cfg: BoonConfig, data: RunData, details: dict[str, Any]) -> None:
        """What the truth itself scores: wall residual of the exact data under the metric's
        stencil (Neumann truncation), and (cavity) curl of the true velocity vs the stored solver
        vorticity."""
        test = data.splits["test"]
        y = test["y"].double()
        w = {f: v.double() for f, v in bc_batch(test).items()}
        m = metrics_2d(y, y, data.bcs, w, 1, cfg.case)
        out = {
            k: v for k, v in m.items() if k.startswith("boundary_error") and isinstance(v, float)
        }
        if cfg.case == "cavity":
            h = 1.0 / (y.shape[2] - 1)
            raw = data.extra["raw_test"]
            omega = torch.from_numpy(raw.fields["omega"][:, 1:]).double().movedim(1, -1)
            out["curl_vs_solver_vorticity_rel_l2"] = float(
                rel_l2_per_sample(curl(y[:, 0], y[:, 1], h), omega).mean()
            )
        details["data_floor"] = out

    def figures(
        self, rd: RunDir, cfg: BoonConfig, data: RunData, preds: dict[str, Tensor], details: Any,
        metrics: Any,
    ) -> None:  # fmt: skip
        from pcml.experiments.boon.plots2d import make_figures_2d

        make_figures_2d(rd, cfg, data.splits["test"], preds, metrics)

    def table(self, cfg: BoonConfig, metrics: Any, details: Any, command: str) -> str:
        return format_table_2d(cfg, metrics, details, command)


LAYOUTS: dict[str, Layout1D | Layout2D] = {"1d": Layout1D(), "2d": Layout2D()}
