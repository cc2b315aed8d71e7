r"""The BOON experiment: data → FNO, BOON, BOON (reference) with identical settings → metrics.

For a case of :mod:`pcml.experiments.boon_cases` and a :class:`BoonConfig`:

1. **Data** (``DIR/data/<hash>/{data,data_2x}.h5``, keyed by the config hash of the data
   settings, reused when present): ``n_train + n_test`` trajectories, train = the first
   ``n_train``, test = the last ``n_test`` (as the article); ``data_2x`` holds the same
   trajectories (same seed and parameters) at twice the resolution (spacing h/2).
2. **Models**: one FNO architecture for all, initialised from the same seed (so the three models
   start from identical weights — BOON adds no parameters), trained on the same data in the same
   order with the same :class:`pcml.train.TrainConfig` and the same padding:

   - ``fno``: u₀ ↦ u, no boundary data;
   - ``boon``: :class:`pcml.models.boon.BOON` with channel-wise block elimination (exact for
     any width), receiving the prescribed boundary data of the target time(s) (see the case);
   - ``boon_reference``: BOON with the article's scalar-probe elimination (bugs fixed).

   Single-step: u₀ (B, 1, *space) ↦ u(t₁) with a d-D FNO. Multi-step: u₀ repeated over the T
   target frames, grid (*space, t), ↦ T frames jointly (no autoregression), zero-padded along t
   only, BCs along space with one boundary value per frame.
3. **Loss**: relative L2 per sample, averaged over the batch (the article's ``LpLoss.rel``).
   With ``normalize_targets`` every model predicts u/s, s = the power of two nearest the rms of
   the training targets (:func:`target_scale`; BOON receives α/s): the loss is unchanged, but
   Adam's parameter-scale steps no longer act on an output layer that must shrink its outputs
   by 1/s (periodic Burgers: u(·, 1) has rms 0.009 against inputs of rms 0.55).
4. **Evaluation** (test split only, float64 by default; :mod:`pcml.experiments.boon_eval`), at the
   training resolution and at 2×; ``metrics.json`` = ``{model: {metric: float}}`` (no
   wall-clock numbers: identical runs write identical files), ``details.json`` (timings,
   per-frame errors, data floors, target scale), ``table.md``, figures, ``report.html``.

Re-running the same command in the same directory resumes training from the last checkpoints
(``pcml.train.fit``) and recomputes identical metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from pcml.constraints.boundary import BoundaryConditions
from pcml.data import H5FieldDataset, PDEData, cached_dataset
from pcml.experiments.boon_cases import BoonCase, get_case
from pcml.experiments.boon_config import BoonConfig
from pcml.experiments.boon_eval import boundary_conditions, field_metrics, rel_l2_per_sample
from pcml.experiments.config import config_hash, to_dict
from pcml.experiments.rundir import RunDir, write_json_atomic
from pcml.models.boon import BOON
from pcml.models.fno import FNO, count_parameters
from pcml.train import fit

__all__ = [
    "BoundarySurrogate",
    "TensorDictDataset",
    "build_model",
    "load_split",
    "run",
    "target_scale",
]

Log = Callable[[str], None]


class TensorDictDataset(Dataset[dict[str, Tensor]]):
    """In-memory dataset: item i = ``{key: tensor[i]}`` (flat, as ``pcml.train.fit`` expects)."""

    def __init__(self, tensors: Mapping[str, Tensor]) -> None:
        sizes = {int(t.shape[0]) for t in tensors.values()}
        if len(sizes) != 1:
            raise ValueError(f"TensorDictDataset: leading sizes differ: {sizes}")
        self.tensors = dict(tensors)
        self.n = sizes.pop()

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[i] for k, v in self.tensors.items()}


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


class BoundarySurrogate(nn.Module):
    """u₀ (B, C, *space) ↦ prediction (B, C, *space) or (B, C, *space, T) (``n_frames`` = T).

    ``forward(x, bc)``: ``bc`` = ``{"<axis>_<side>": (B, *s)}`` prescribed values of the target
    time(s); a plain FNO ignores them (it never receives boundary data), BOON enforces them.
    """

    def __init__(self, net: FNO | BOON, n_frames: int | None, scale: float = 1.0) -> None:
        super().__init__()
        _check_scale(scale)
        self.net = net
        self.n_frames = n_frames
        self.scale = float(scale)

    def forward(self, x: Tensor, bc: Mapping[str, Tensor] | None = None) -> Tensor:
        a = x if self.n_frames is None else x.unsqueeze(-1).expand(*x.shape, self.n_frames)
        s = self.scale
        if isinstance(self.net, FNO):
            return self.net(a) if s == 1.0 else s * self.net(a)
        values: dict[str, tuple[Tensor | None, Tensor | None]] = {}
        for axis in self.net.bcs.sides:
            lo, up = self.net.bcs.needs_value(axis)
            if lo or up:
                bc = bc or {}
                lv, uv = bc.get(f"{axis}_lower"), bc.get(f"{axis}_upper")
                if s != 1.0:  # exact: s is a power of two
                    lv, uv = (None if v is None else v / s for v in (lv, uv))
                values[axis] = (lv, uv)
        out = self.net(a, values or None)
        return out if s == 1.0 else s * out


def _check_scale(scale: float) -> None:
    m, _ = math.frexp(scale)
    if not (math.isfinite(scale) and scale > 0 and m == 0.5):
        raise ValueError(f"scale must be a positive power of two (exact scaling), got {scale!r}")


def target_scale(y: Tensor) -> float:
    r"""s = 2^round(log₂ rms(y)) of the training targets y (n, C, *grid): the power of two nearest
    their root mean square. Models predict u/s (and BOON receives α/s): the relative-L2 loss is
    unchanged, but the network's output layer works at unit scale. A power of two makes the
    scaling exact in floating point, so Dirichlet values stay bitwise and the Neumann relation
    (linear in u and α) stays exact to round-off."""
    rms = float(y.double().pow(2).mean().sqrt())
    if not (math.isfinite(rms) and rms > 0):
        raise ValueError(f"target_scale: training targets have rms {rms}, expected finite > 0")
    return math.ldexp(1.0, round(math.log2(rms)))


def build_model(
    cfg: BoonConfig,
    key: str,
    bcs: BoundaryConditions,
    channels: tuple[int, int],
    n_frames: int | None = None,
    scale: float = 1.0,
) -> BoundarySurrogate:
    """Model ``key`` ("fno" | "boon" | "boon_reference" | "boon_none"), weights drawn from
    ``cfg.seed``; ``n_frames``: T for multi-step (input repeated over T frames), None for
    single-step; ``scale``: output scale s (a power of two, :func:`target_scale`), the same for
    every model (with ``boon.hidden_values = "physical"`` BOON's hidden layers get s·(α/s) = α)."""
    m = cfg.model
    case = get_case(cfg.case)
    torch.manual_seed(cfg.seed)
    fno = FNO(
        m.n_modes,
        channels[0],
        channels[1],
        m.hidden_channels,
        m.n_layers,
        projection_channels=m.projection_channels,
        padding=m.padding,
    )
    if key == "fno":
        net: FNO | BOON = fno
    else:
        net = BOON(
            fno,
            bcs,
            mode=_MODES[key],
            neumann_half=cfg.boon.neumann_half,
            eps=cfg.boon.eps,
            reference_tol=cfg.boon.reference_tol,
            axis_names=case.grid_axes(cfg.multi_step),
            mask_activation=cfg.boon.mask_activation,
            hidden_value_scale=scale if cfg.boon.hidden_values == "physical" else 1.0,
        )
    return BoundarySurrogate(net, n_frames, scale)


_MODES: dict[str, Literal["channelwise", "reference", "none"]] = {
    "boon": "channelwise",
    "boon_reference": "reference",
    "boon_none": "none",
}


def _bc_batch(batch: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k[3:]: v for k, v in batch.items() if k.startswith("bc_")}


def rel_l2_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Mean over the batch of the per-sample relative L2 error (the article's loss)."""
    pred = model(batch["x"], _bc_batch(batch))
    return rel_l2_per_sample(pred, batch["y"]).mean()


def _data_files(cfg: BoonConfig, case: BoonCase, out: Path, log: Log) -> tuple[Path, Path | None]:
    d = cfg.data
    key = config_hash({"case": cfg.case, "multi_step": cfg.multi_step, "data": to_dict(d)})
    folder = out / "data" / key[:16]
    folder.mkdir(parents=True, exist_ok=True)
    n_traj = d.n_train + d.n_test
    paths: list[Path | None] = []
    for name, n_x in (("data", d.n_x), ("data_2x", case.fine_n_x(d.n_x))):
        if name == "data_2x" and not d.eval_2x:
            paths.append(None)
            continue

        def build(name: str = name, n_x: int = n_x) -> PDEData:
            log(f"data: generating {name} ({n_traj} trajectories, n_x={n_x})")
            return case.build(n_traj=n_traj, n_x=n_x, multi_step=cfg.multi_step, seed=d.seed)

        paths.append(cached_dataset(folder / f"{name}.h5", build, log))
    assert paths[0] is not None
    return paths[0], paths[1]


@torch.no_grad()
def predict(model: BoundarySurrogate, split: Mapping[str, Tensor], batch: int) -> Tensor:
    model.eval()
    dtype = next(model.parameters()).dtype
    outs = []
    n = int(split["x"].shape[0])
    for i in range(0, n, batch):
        x = split["x"][i : i + batch].to(dtype)
        bc = {k: v[i : i + batch].to(dtype) for k, v in _bc_batch(split).items()}
        outs.append(model(x, bc))
    return torch.cat(outs)


def run(
    cfg: BoonConfig,
    out: Path | str,
    command: str = "",
    progress: bool = True,
    figures: bool = True,
    log: Log = print,
) -> dict[str, dict[str, float]]:
    """Run the experiment of ``cfg`` in ``out`` (module docstring); returns metrics.json."""
    runner = get_case(cfg.case).runner
    if runner is not None:  # e.g. the 2-D cases (pcml.experiments.boon2d_run)
        return runner(cfg, out, command=command, progress=progress, figures=figures, log=log)
    t_start = time.perf_counter()
    rd = RunDir(out)
    out = rd.path
    case = get_case(cfg.case)
    rd.start(cfg, command)
    timings: dict[str, float] = {}

    t0 = time.perf_counter()
    path, path_2x = _data_files(cfg, case, out, log)
    n_train, n_test = cfg.data.n_train, cfg.data.n_test
    train, bc_kinds = load_split(path, cfg.multi_step, range(n_train))
    test, _ = load_split(path, cfg.multi_step, range(n_train, n_train + n_test))
    test_2x = None
    if path_2x is not None:
        test_2x, _ = load_split(path_2x, cfg.multi_step, range(n_train, n_train + n_test))
    timings["data_s"] = time.perf_counter() - t0

    bcs = boundary_conditions(bc_kinds, cfg.boon.neumann_orders)
    names = case.grid_axes(cfg.multi_step)
    channels = (int(train["x"].shape[1]), int(train["y"].shape[1]))
    n_frames = int(train["y"].shape[-1]) if cfg.multi_step else None
    eval_dtype = torch.float64 if cfg.eval_dtype == "float64" else torch.float32
    scale = target_scale(train["y"]) if cfg.normalize_targets else 1.0
    metrics: dict[str, dict[str, float]] = {}
    details: dict[str, Any] = {
        "case": cfg.case,
        "multi_step": cfg.multi_step,
        "bc_kinds": bc_kinds,
        "bc_source": case.bc_source,
        "config_hash": config_hash(cfg),
        "n_test": n_test,
        "target_scale": scale,
        "per_frame_rel_l2": {},
        "history": {},
        "resumed_from": {},
    }
    predictions: dict[str, Tensor] = {}
    test_values = {k[3:]: v.to(eval_dtype) for k, v in test.items() if k.startswith("bc_")}
    for key in cfg.models:
        model = build_model(cfg, key, bcs, channels, n_frames, scale)
        t0 = time.perf_counter()
        result = fit(
            model,
            rel_l2_loss,
            TensorDictDataset(train),
            None,
            cfg.train,
            out,
            key,
            progress=progress,
            model_config={"model": to_dict(cfg.model), "boon": to_dict(cfg.boon), "key": key},
        )
        train_s = time.perf_counter() - t0
        timings[f"train_{key}_s"] = train_s
        details["resumed_from"][key] = result.resumed_from
        details["history"][key] = [r["train_loss"] for r in result.history]
        log(f"{key}: {result.epochs} epochs in {train_s:.1f} s, loss {result.train_loss:.4g}")

        t0 = time.perf_counter()
        # a fresh copy (BoundaryConditions holds a mappingproxy, which deepcopy cannot copy)
        emodel = build_model(cfg, key, bcs, channels, n_frames, scale)
        emodel.load_state_dict(model.state_dict())
        emodel = emodel.to(eval_dtype)
        pred = predict(emodel, test, cfg.eval_batch_size)
        y = test["y"].to(eval_dtype)
        m = field_metrics(pred, y, bcs, test_values, names, cfg.near_boundary_nodes)
        if test_2x is not None:
            pred2 = predict(emodel, test_2x, cfg.eval_batch_size)
            vals2 = {k[3:]: v.to(eval_dtype) for k, v in test_2x.items() if k.startswith("bc_")}
            m2 = field_metrics(pred2, test_2x["y"].to(eval_dtype), bcs, vals2, names, 1)
            m["rel_l2_at_2x_resolution"] = m2["rel_l2"]
            if "boundary_error" in m2:
                m["boundary_error_at_2x_resolution"] = m2["boundary_error"]
                m["boundary_error_max_at_2x_resolution"] = m2["boundary_error_max"]
        if cfg.multi_step:
            per = rel_l2_per_sample(
                pred.movedim(-1, 1).flatten(0, 1), y.movedim(-1, 1).flatten(0, 1)
            )
            details["per_frame_rel_l2"][key] = per.reshape(n_test, -1).mean(0).tolist()
        m["n_parameters"] = float(count_parameters(model))
        m["final_train_loss"] = result.train_loss
        m["epochs"] = float(result.epochs)
        timings[f"eval_{key}_s"] = time.perf_counter() - t0
        metrics[key] = m
        predictions[key] = pred
    rd.write_metrics(metrics)

    y64 = test["y"].to(torch.float64)
    data_floor = field_metrics(
        y64, y64, bcs, {k: v.double() for k, v in test_values.items()}, names
    )
    details["data_boundary_residual"] = {k: v for k, v in data_floor.items() if "boundary" in k}
    details["timings_s"] = timings
    if figures:
        t0 = time.perf_counter()
        from pcml.experiments.plots_boon import make_figures

        make_figures(rd, case, cfg, test, predictions, details)
        timings["figures_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    write_json_atomic(out / "details.json", details)
    rd.write_table(format_table(cfg, metrics, details, command))
    if figures:
        t0 = time.perf_counter()
        _report(out, log)
        timings["report_s"] = time.perf_counter() - t0
        write_json_atomic(out / "details.json", details)
    return metrics


def _report(out: Path, log: Log) -> None:
    try:
        from pcml.experiments.report import build_report
    except ImportError:
        log("report: pcml.experiments.report is not available; report.html not written")
        return
    build_report(out)


_COLUMNS = (
    ("rel_l2", "rel. L2"),
    ("rel_l2_near_boundary", "rel. L2 near bdy"),
    ("boundary_error", "bdy err (mean)"),
    ("boundary_error_max", "bdy err (max)"),
    ("boundary_error_hi_order", "flux err 6th-order"),
    ("rel_l2_at_2x_resolution", "rel. L2 @2x"),
    ("boundary_error_max_at_2x_resolution", "bdy err max @2x"),
    ("train_s", "train s"),
)


def metric_rows(
    metrics: Mapping[str, Mapping[str, Any]], cols: Sequence[tuple[str, str]]
) -> list[str]:
    """Markdown header and one row per model for the metric columns ``cols`` = (key, title);
    rel. L2 with its standard error, training seconds as integers, "–" where a metric is absent.
    """
    lines = ["| model | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for key, m in metrics.items():
        cells = []
        for name, _ in cols:
            v = m.get(name)
            if v is None:
                cells.append("–")
            elif name == "rel_l2":
                cells.append(f"{v:.4g} ± {m.get('rel_l2_se', 0.0):.2g}")
            else:
                cells.append(f"{v:.0f}" if name == "train_s" else f"{v:.3g}")
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return lines


def with_train_seconds(
    metrics: Mapping[str, Mapping[str, Any]], timings: Mapping[str, float]
) -> dict[str, dict[str, Any]]:
    """``metrics`` with each model's ``train_s`` added from the stage ``timings`` (for the
    table only: training seconds are wall-clock and live in details.json, not in metrics.json,
    so that identical runs write identical metrics.json)."""
    return {
        k: {**m, **({"train_s": timings[f"train_{k}_s"]} if f"train_{k}_s" in timings else {})}
        for k, m in metrics.items()
    }


def format_table(
    cfg: BoonConfig,
    metrics: Mapping[str, Mapping[str, float]],
    details: Mapping[str, Any],
    command: str = "",
) -> str:
    """Markdown table of ``metrics`` with the case, task, BC provenance and stage timings."""
    task = "multi-step (u0 -> 25 frames)" if cfg.multi_step else "single-step (u0 -> u(t1))"
    t = details.get("timings_s", {})
    metrics = with_train_seconds(metrics, t)
    cols = [c for c in _COLUMNS if any(c[0] in m for m in metrics.values())]
    lines = [
        f"# BOON: {cfg.case}, {task}, profile {cfg.profile}",
        "",
        *([f"Command: `{command}`", ""] if command else []),
        f"Boundary data: {details['bc_source']}",
        "",
        f"Test set: the last {cfg.data.n_test} of {cfg.data.n_train + cfg.data.n_test} "
        "trajectories; relative L2 = mean over test samples of ||pred - true|| / ||true||.",
        "",
        *metric_rows(metrics, cols),
    ]
    lines += ["", "Stage times (s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in t.items())]
    return "\n".join(lines) + "\n"
