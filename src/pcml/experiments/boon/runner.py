r"""The one BOON run loop: data → every model of ``cfg.models`` with identical settings → metrics.

For a case of :mod:`pcml.experiments.boon.cases` and a :class:`BoonConfig`:

1. **Data** (``DIR/data/<hash>/*.h5``, keyed by the config hash of the data settings, reused when
   present), by the case's ``layout`` (:class:`_Layout1D`, :class:`_Layout2D`):

   - 1-D: ``data.h5`` holds ``n_train + n_val + n_test`` trajectories — train the first
     ``n_train``, validation the next ``n_val``, test the last ``n_test`` (as the article);
     ``data_2x`` / ``data_4x`` hold the same trajectories (same seed and parameters) generated at
     2× / 4× the resolution (spacing h/2, h/4); ``data_ood`` (``boundary_data = "varied"``)
     ``n_test`` trajectories (data seed + 1000) whose boundary parameters are drawn from the
     case's out-of-distribution ranges;
   - 2-D: ``train.h5``, ``test.h5`` (independent draws, seeds ``seed``, ``seed + 1``),
     ``val.h5`` (seed + 2), ``test_2x.h5`` / ``test_4x.h5`` (the test trajectories at h/2, h/4),
     ``test_ood.h5`` (seed + 3, the OOD boundary ranges, ``boundary_data = "varied"``).

2. **Models** (:mod:`pcml.experiments.boon.models`): one FNO architecture for all, initialised
   from the same seed, trained on the same data in the same order with the same
   :class:`pcml.train.TrainConfig`. ``fno_soft`` is trained once per weight of
   ``cfg.soft_weights`` (checkpoints ``fno_soft_w<λ>``) and the weight with the lowest
   validation rel. L2 is reported as ``fno_soft`` (``soft_weight`` and every weight's
   ``rel_l2_val_w<λ>`` in its metrics); with one weight there is no selection.
3. **Loss**: relative L2 per sample averaged over the batch (2-D wave: per frame,
   :data:`pcml.experiments.boon.cases2d.FRAME_LOSS_2D`), + λ × the boundary penalty for
   ``fno_soft``. With ``normalize_targets`` every model predicts u/s (1-D).
4. **Evaluation** (float64 by default; :mod:`pcml.experiments.boon.metrics`) on the test split, at
   2× (``rel_l2_at_2x_resolution`` and its boundary errors, as before) and, with
   ``split_metrics``, every metric per further split as ``<metric>_<split>`` for the splits
   ``val``, ``ood``, ``2x``, ``4x`` that exist (near-boundary band: the same physical width,
   ``near_boundary_nodes`` × the refinement). ``metrics.json`` = ``{model: {metric: value}}`` (no
   wall-clock numbers: identical runs write identical files), ``details.json`` (timings,
   histories, data floors, per-split grid sizes ``split_n_x``), ``table.md``, figures,
   ``report.html``.

Re-running the same command in the same directory resumes training from the last checkpoints
(``pcml.train.fit``) and recomputes identical metrics.
"""

from __future__ import annotations

import math
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from pcml.constraints.boundary import BoundaryConditions
from pcml.data import H5FieldDataset, PDEData, read_dataset, write_dataset
from pcml.experiments.boon.cases import BoonCase, get_case
from pcml.experiments.boon.cases2d import FRAME_LOSS_2D, INCREMENT_POWER
from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.boon.data2d import FACES, build_case_data, curl, to_tensors, wall_data
from pcml.experiments.boon.metrics import (
    boundary_conditions,
    field_metrics,
    metrics_2d,
    paired_per_frame,
    rel_l2_per_sample,
)
from pcml.experiments.boon.models import (
    Surrogate2D,
    TensorDictDataset,
    apply_model,
    bc_batch,
    build_model,
    build_model_2d,
    frame_loss,
    frame_rel_l2,
    rel_l2_loss,
    soft_penalty,
    target_scale,
)
from pcml.experiments.boon.tables import format_table, format_table_2d
from pcml.experiments.config import config_hash, from_dict, to_dict, to_toml
from pcml.experiments.rundir import RunDir, write_json_atomic, write_text_atomic
from pcml.models.fno import count_parameters
from pcml.train import fit

__all__ = ["load_split", "predict", "run", "soft_variants"]

Log = Callable[[str], None]
Split = dict[str, Tensor]
#: The per-split metrics written with ``split_metrics`` (``<name>_<split>``).
SPLIT_METRICS: tuple[str, ...] = (
    "rel_l2",
    "rel_l2_se",
    "rel_l2_near_boundary",
    "boundary_error",
    "boundary_error_max",
    "boundary_error_hi_order",
)
#: Refinement factor of each split (the near-boundary band scales with it).
REFINE: dict[str, int] = {"val": 1, "test": 1, "ood": 1, "2x": 2, "4x": 4}


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
class _Data:
    """Tensors of every split, the boundary conditions, the grid names, and layout extras."""

    splits: dict[str, Split]
    bcs: BoundaryConditions
    bc_kinds: dict[str, str]
    names: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)


def _folder(cfg: BoonConfig, out: Path, tag: dict[str, Any]) -> Path:
    key = config_hash({"case": cfg.case, **tag, "data": to_dict(cfg.data)})
    return out / "data" / key[:16]


class _Layout1D:
    """1-D cases (single- or multi-step): one file per resolution, split by index."""

    def load(self, cfg: BoonConfig, case: BoonCase, out: Path, log: Log) -> _Data:
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
            path = folder / f"{name}.h5"
            if not path.exists():
                log(f"data: generating {name} ({n} trajectories, n_x={n_x})")
                data = case.build(n_traj=n, n_x=n_x, multi_step=cfg.multi_step, seed=seed, **gen)
                write_dataset(path, data)
            paths[name] = path
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
        return _Data(splits, bcs, bc_kinds, case.grid_axes(cfg.multi_step))

    def faces(self, data: _Data) -> tuple[str, ...]:
        return tuple(k[3:] for k in data.splits["train"] if k.startswith("bc_"))

    def model(self, cfg: BoonConfig, key: str, data: _Data, scale: float) -> nn.Module:
        train = data.splits["train"]
        channels = (int(train["x"].shape[1]), int(train["y"].shape[1]))
        n_frames = int(train["y"].shape[-1]) if cfg.multi_step else None
        return build_model(cfg, key, data.bcs, channels, n_frames, scale, self.faces(data))

    def scale(self, cfg: BoonConfig, data: _Data) -> float:
        return target_scale(data.splits["train"]["y"]) if cfg.normalize_targets else 1.0

    def base_loss(self, cfg: BoonConfig) -> Callable[[nn.Module, dict[str, Tensor]], Tensor]:
        return rel_l2_loss

    def metrics(
        self, cfg: BoonConfig, data: _Data, pred: Tensor, split: Split, near: int
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
        self, cfg: BoonConfig, data: _Data, key: str, pred: Tensor, details: dict[str, Any]
    ) -> None:
        if cfg.multi_step:
            y = data.splits["test"]["y"].to(pred.dtype)
            per = rel_l2_per_sample(
                pred.movedim(-1, 1).flatten(0, 1), y.movedim(-1, 1).flatten(0, 1)
            )
            details["per_frame_rel_l2"][key] = per.reshape(y.shape[0], -1).mean(0).tolist()

    def floors(self, cfg: BoonConfig, data: _Data, details: dict[str, Any]) -> None:
        test = data.splits["test"]
        y64 = test["y"].to(torch.float64)
        vals = {k: v.double() for k, v in bc_batch(test).items()}
        floor = field_metrics(y64, y64, data.bcs, vals, data.names)
        details["data_boundary_residual"] = {k: v for k, v in floor.items() if "boundary" in k}

    def figures(
        self, rd: RunDir, cfg: BoonConfig, data: _Data, preds: dict[str, Tensor], details: Any,
        metrics: Any,
    ) -> None:  # fmt: skip
        from pcml.experiments.boon.plots import make_figures

        make_figures(rd, get_case(cfg.case), cfg, data.splits["test"], preds, details)

    def table(self, cfg: BoonConfig, metrics: Any, details: Any, command: str) -> str:
        return format_table(cfg, metrics, details, command)


class _Layout2D:
    """2-D + time cases (cavity, wave2d): independent draws, walls as data, Surrogate2D."""

    _KIND: ClassVar[dict[str, str]] = {"cavity": "dirichlet", "wave2d": "neumann"}

    def load(self, cfg: BoonConfig, case: BoonCase, out: Path, log: Log) -> _Data:
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
                raw[name] = read_dataset(path)
                continue
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
        return _Data(splits, bcs, kinds, ("x", "y", "t"), {"raw_test": raw["test"]})

    def model(self, cfg: BoonConfig, key: str, data: _Data, scale: float) -> nn.Module:
        return build_model_2d(cfg, key, data.bcs, int(data.splits["train"]["x"].shape[1]))

    def scale(self, cfg: BoonConfig, data: _Data) -> float:
        return 1.0

    def base_loss(self, cfg: BoonConfig) -> Callable[[nn.Module, dict[str, Tensor]], Tensor]:
        return frame_loss if FRAME_LOSS_2D[cfg.case] else rel_l2_loss

    def metrics(
        self, cfg: BoonConfig, data: _Data, pred: Tensor, split: Split, near: int
    ) -> dict[str, Any]:
        walls = {k: v.to(pred.dtype) for k, v in bc_batch(split).items()}
        return metrics_2d(pred, split["y"].to(pred.dtype), data.bcs, walls, near, cfg.case)

    def finish(
        self, cfg: BoonConfig, m: dict[str, Any], n_params: int, loss: float, epochs: int
    ) -> None:
        m.update(n_parameters=n_params, final_train_loss=loss)
        m.update(epochs=epochs)  # train_s: wall-clock, in details.json (timings_s)

    def per_key_details(
        self, cfg: BoonConfig, data: _Data, key: str, pred: Tensor, details: dict[str, Any]
    ) -> None:
        return None

    def floors(self, cfg: BoonConfig, data: _Data, details: dict[str, Any]) -> None:
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
        self, rd: RunDir, cfg: BoonConfig, data: _Data, preds: dict[str, Tensor], details: Any,
        metrics: Any,
    ) -> None:  # fmt: skip
        from pcml.experiments.boon.plots2d import make_figures_2d

        make_figures_2d(rd, cfg, data.splits["test"], preds, metrics)

    def table(self, cfg: BoonConfig, metrics: Any, details: Any, command: str) -> str:
        return format_table_2d(cfg, metrics, details, command)


_LAYOUTS: dict[str, _Layout1D | _Layout2D] = {"1d": _Layout1D(), "2d": _Layout2D()}


@torch.no_grad()
def predict(model: nn.Module, split: Mapping[str, Tensor], batch: int) -> Tensor:
    """Predictions of ``model`` on a split, in batches, in the model's dtype."""
    model.eval()
    dtype = next(model.parameters()).dtype
    outs = []
    n = int(split["x"].shape[0])
    for i in range(0, n, batch):
        part = {k: v[i : i + batch].to(dtype) for k, v in split.items() if k != "y"}
        outs.append(apply_model(model, part))
    return torch.cat(outs)


def soft_variants(cfg: BoonConfig, key: str) -> list[tuple[str, float | None]]:
    """(checkpoint name, penalty weight) of the trainings of model ``key``: one, except
    ``fno_soft`` with several ``cfg.soft_weights`` (``fno_soft_w<λ>``, selected on validation)."""
    if key != "fno_soft":
        return [(key, None)]
    if len(cfg.soft_weights) == 1:
        return [(key, cfg.soft_weights[0])]
    return [(f"fno_soft_w{w:g}", w) for w in cfg.soft_weights]


def _penalised(
    base: Callable[[nn.Module, dict[str, Tensor]], Tensor], weight: float, data: _Data
) -> Callable[[nn.Module, dict[str, Tensor]], Tensor]:
    names = data.names

    def loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
        pred, y = apply_model(model, batch), batch["y"]
        fit_term = (
            frame_rel_l2(pred, y) if base is frame_loss else rel_l2_per_sample(pred, y).mean()
        )
        return fit_term + weight * soft_penalty(pred, y, data.bcs, bc_batch(batch), names).mean()

    return loss


def run(
    cfg: BoonConfig,
    out: Path | str,
    command: str = "",
    progress: bool = True,
    figures: bool = True,
    log: Log = print,
) -> dict[str, dict[str, Any]]:
    """Run the experiment of ``cfg`` in ``out`` (module docstring); returns metrics.json."""
    t_start = time.perf_counter()
    rd = RunDir(out)
    case = get_case(cfg.case)
    layout = _LAYOUTS[case.layout]
    _migrate_config(rd, cfg)
    rd.start(cfg, command)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    data = layout.load(cfg, case, rd.path, log)
    timings["data_s"] = time.perf_counter() - t0

    eval_dtype = torch.float64 if cfg.eval_dtype == "float64" else torch.float32
    scale = layout.scale(cfg, data)
    details: dict[str, Any] = {
        "case": cfg.case,
        "multi_step": cfg.multi_step,
        "bc_kinds": data.bc_kinds,
        "bc_source": case.bc_source,
        "config_hash": config_hash(cfg),
        "n_test": cfg.data.n_test,
        "target_scale": scale,
        "split_n_x": {},
        "per_frame_rel_l2": {},
        "rel_l2_per_frame_at_2x_resolution": {},
        "history": {},
        "resumed_from": {},
    }
    metrics: dict[str, dict[str, Any]] = {}
    preds: dict[str, Tensor] = {}
    near = cfg.near_boundary_nodes
    for key in cfg.models:
        candidates: list[tuple[float | None, dict[str, Any], Tensor, float]] = []
        for name, weight in soft_variants(cfg, key):
            model = layout.model(cfg, key, data, scale)
            base = layout.base_loss(cfg)
            loss = base if weight is None else _penalised(base, weight, data)
            t0 = time.perf_counter()
            model_config: dict[str, Any] = {
                "model": to_dict(cfg.model), "boon": to_dict(cfg.boon), "key": key,
            }  # fmt: skip
            if isinstance(model, Surrogate2D):
                model_config.update(
                    residual=model.residual, time_power=model.time_power,
                    frame_loss=FRAME_LOSS_2D[cfg.case],
                )  # fmt: skip
                details["residual_in_time"] = model.residual
                details["time_power"] = model.time_power
                details["increment_scaling"] = {p: n for n, p in INCREMENT_POWER.items()}[
                    model.time_power
                ]
                details["frame_loss"] = FRAME_LOSS_2D[cfg.case]
            if weight is not None:
                model_config["soft_weight"] = weight
            result = fit(
                model, loss, TensorDictDataset(data.splits["train"]), None, cfg.train, rd.path,
                name, progress=progress, model_config=model_config,
            )  # fmt: skip
            train_s = time.perf_counter() - t0
            timings[f"train_{name}_s"] = train_s
            details["resumed_from"][name] = result.resumed_from
            details["history"][name] = [r["train_loss"] for r in result.history]
            log(f"{name}: {result.epochs} epochs in {train_s:.1f} s, loss {result.train_loss:.4g}")

            t0 = time.perf_counter()
            # a fresh copy (BoundaryConditions holds a mappingproxy, which deepcopy cannot copy)
            emodel = layout.model(cfg, key, data, scale)
            emodel.load_state_dict(model.state_dict())
            emodel = emodel.to(eval_dtype)
            pred = predict(emodel, data.splits["test"], cfg.eval_batch_size)
            m = layout.metrics(cfg, data, pred, data.splits["test"], near)
            if "2x" in data.splits:
                p2 = predict(emodel, data.splits["2x"], cfg.eval_batch_size)
                m2 = layout.metrics(cfg, data, p2, data.splits["2x"], 1)
                m["rel_l2_at_2x_resolution"] = m2["rel_l2"]
                if "boundary_error" in m2:
                    m["boundary_error_at_2x_resolution"] = m2["boundary_error"]
                    m["boundary_error_max_at_2x_resolution"] = m2["boundary_error_max"]
                if "rel_l2_per_frame" in m2:
                    details["rel_l2_per_frame_at_2x_resolution"][key] = m2["rel_l2_per_frame"]
            if cfg.split_metrics:
                for split in ("val", "ood", "2x", "4x"):
                    if split not in data.splits:
                        continue
                    ps = predict(emodel, data.splits[split], cfg.eval_batch_size)
                    details["split_n_x"][split] = int(ps.shape[2])
                    ms = layout.metrics(cfg, data, ps, data.splits[split], near * REFINE[split])
                    m.update({f"{k}_{split}": ms[k] for k in SPLIT_METRICS if k in ms})
            details["split_n_x"]["test"] = int(pred.shape[2])
            layout.finish(cfg, m, count_parameters(model), result.train_loss, result.epochs)
            timings[f"eval_{name}_s"] = time.perf_counter() - t0
            val = math.nan
            if weight is not None and "val" in data.splits:
                pv = predict(emodel, data.splits["val"], cfg.eval_batch_size)
                val = float(rel_l2_per_sample(pv, data.splits["val"]["y"].to(eval_dtype)).mean())
            candidates.append((weight, m, pred, val))
        # fno_soft: the weight with the lowest validation rel. L2 (ties: the smaller weight)
        weight, m, pred, _ = min(candidates, key=lambda c: (c[3], c[0] or 0.0))
        if len(candidates) > 1:
            m = {**m, **{f"rel_l2_val_w{c[0]:g}": c[3] for c in candidates}}
        if weight is not None:
            m["soft_weight"] = float(weight)
        layout.per_key_details(cfg, data, key, pred, details)
        metrics[key] = m
        preds[key] = pred
    rd.write_metrics(metrics)
    if case.layout == "2d" and "fno" in preds:
        y = data.splits["test"]["y"].to(eval_dtype)
        details["paired_per_frame"] = {
            k: paired_per_frame(preds[k], preds["fno"], y) for k in preds if k != "fno"
        }
    layout.floors(cfg, data, details)
    details["timings_s"] = timings
    if figures:
        t0 = time.perf_counter()
        layout.figures(rd, cfg, data, preds, details, metrics)
        timings["figures_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    write_json_atomic(rd.path / "details.json", details)
    rd.write_table(layout.table(cfg, metrics, details, command))
    if figures:
        t0 = time.perf_counter()
        _report(rd.path, log)
        timings["report_s"] = time.perf_counter() - t0
        write_json_atomic(rd.path / "details.json", details)
    return metrics


def _migrate_config(rd: RunDir, cfg: BoonConfig) -> None:
    """A run directory written before a config field existed: its ``config.toml`` lacks the new
    keys. If reading it with the defaults for the missing keys gives exactly ``cfg``, it is this
    run: rewrite ``config.toml`` in the current form so that :meth:`RunDir.start` accepts it (the
    checkpoints resume; the data are regenerated under the new data hash). Anything else is left
    for :meth:`RunDir.start` to refuse."""
    path = rd.config_path
    if not path.is_file():
        return
    text = path.read_text(encoding="utf-8")
    if text == to_toml(cfg):
        return
    try:
        old = from_dict(BoonConfig, tomllib.loads(text))
    except (ValueError, TypeError, tomllib.TOMLDecodeError):
        return
    if old == cfg:
        write_text_atomic(path, to_toml(cfg))


def _report(out: Path, log: Log) -> None:
    try:
        from pcml.experiments.report import build_report
    except ImportError:
        log("report: pcml.experiments.report is not available; report.html not written")
        return
    build_report(out)
