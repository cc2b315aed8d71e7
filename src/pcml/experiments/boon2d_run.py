r"""Runner and metrics of the 2-D BOON cases (cavity, wave2d): the FNO vs BOON variants.

Same run-directory layout as the 1-D runner (:mod:`pcml.experiments.boon`): ``config.toml``,
``command.txt``, ``data/<hash>/{train,test,test_2x}.h5`` (reused when present), ``checkpoints/``,
``logs/``, ``metrics.json`` = ``{key: {metric: value}}`` for the keys of ``cfg.models`` (2-D
profiles: :data:`pcml.experiments.boon2d.MODELS_2D`),
``details.json`` (timings per stage, loss histories, data floors, ``paired_per_frame``: every
BOON variant minus the FNO per test sample and frame, mean ± paired SE — :func:`paired_per_frame`),
``table.md``, ``figures/``,
``report.html``. Re-running the same command resumes training from the last checkpoints.

Models (:class:`Surrogate2D`, weights from the same seed, identical training): the FNO maps
a ↦ û; BOON maps a ↦ BOON(a; α = 0 on the four walls) + L with L the lift of the prescribed wall
data (cavity; zero for the wave). See :mod:`pcml.experiments.boon2d` for what each model receives.

Metrics on the test split (float64 evaluation), relative L2 per sample
:math:`\|\hat f_i - f_i\|_2/\|f_i\|_2` over (channels, x, y, t), averaged over samples:

* ``rel_l2`` (± ``rel_l2_se``), ``rel_l2_per_frame`` (25 values: the same ratio per frame),
  ``rel_l2_near_boundary`` (nodes within ``near_boundary_nodes`` of a wall);
* ``boundary_error`` / ``_max`` / ``_<face>``: mean / max |r| of the wall residual r per channel,
  wall node and frame — Dirichlet r = û_b − α; Neumann r = D û − g with BOON's one-sided stencil
  (and ``boundary_error_hi_order*`` with a 6th-order stencil: the continuous-flux error estimate);
* ``rel_l2_at_2x_resolution`` (+ boundary errors there): the same test trajectories on the grid of
  spacing h/2, the model evaluated there without retraining;
* cavity: ``vorticity_rel_l2`` (+ ``_per_frame``): curl of the predicted velocity vs the curl of
  the true velocity (same stencil).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from pcml.constraints.boundary import (
    BoundaryConditions,
    apply_boundary_conditions,
    axis_coords,
    wall_values,
)
from pcml.data import PDEData, read_dataset, write_dataset
from pcml.experiments.boon import (
    BoundarySurrogate,
    TensorDictDataset,
    build_model,
    metric_rows,
    with_train_seconds,
)
from pcml.experiments.boon2d import FRAME_LOSS_2D, INCREMENT_POWER
from pcml.experiments.boon2d_data import FACES, build_splits, curl, to_tensors, wall_data
from pcml.experiments.boon_cases import get_case
from pcml.experiments.boon_config import BoonConfig
from pcml.experiments.boon_eval import HI_ORDER, boundary_conditions, boundary_residuals
from pcml.experiments.boon_eval import rel_l2_per_sample as _rel
from pcml.experiments.config import config_hash, to_dict
from pcml.experiments.rundir import RunDir, write_json_atomic
from pcml.models.fno import FNO, count_parameters
from pcml.train import fit

__all__ = ["Surrogate2D", "metrics_2d", "paired_per_frame", "run_2d"]

Log = Callable[[str], None]
_KIND = {"cavity": "dirichlet", "wave2d": "neumann"}


class Surrogate2D(nn.Module):
    r"""a (B, C, n_x, n_y) ↦ (B, C, n_x, n_y, T): FNO → base + net(a); BOON → base + net(a; 0).

    ``inner``: the runner's :class:`BoundarySurrogate` (input repeated over T frames). BOON gets
    homogeneous values on all four walls. ``base`` (broadcast over the T frames):

    * ``residual=False``: 0 for the FNO; for BOON the lift L (B, C, n_x, n_y) of the prescribed
      Dirichlet wall data (cavity, required when ``lifted``) or 0 (wave);
    * ``residual=True`` (the 2-D profiles, :data:`pcml.experiments.boon2d.RESIDUAL_2D`): the
      models predict the increment u(t) − u(0). FNO: base = a. BOON: base = L + 𝓑₀(a − L), with
      𝓑₀ the model's own homogeneous output enforcement
      (:func:`pcml.constraints.boundary.apply_boundary_conditions`, x faces then y faces): Dirichlet
      walls := L (for the cavity a already holds L there, so base = a bitwise), Neumann walls
      solved from the stencil with zero flux. BOON's increment satisfies the homogeneous BCs and
      𝓑₀ is linear, so the sum satisfies the prescribed ones exactly (Dirichlet bitwise, Neumann
      to round-off). The FNO's base is the raw input: it receives no boundary information.

    ``time_power`` p > 0 (residual only; the case's
    :data:`pcml.experiments.boon2d.INCREMENT_SCALING_2D` "linear" p = 1, "quadratic" p = 2): the
    network output of frame k is multiplied by τ_k^p, τ_k = (t_k − t_0)/(t_T − t_0) = k/T the
    frame's time over the horizon (equally spaced frames), so the prediction is
    û(t_k) = base + τ_k^p N(a)_k and equals the base at τ = 0, for every model alike (wave2d,
    released from rest: u − u(0) = O(t²)). A scalar per frame keeps BOON's homogeneous wall
    relations (Dirichlet zero, Neumann stencil zero) of the increment, so the walls stay exact.
    ``forward(x, lift, tau)``: ``tau`` (T,) overrides k/T (tests: τ = 0 gives the base).
    """

    def __init__(
        self,
        inner: BoundarySurrogate,
        lifted: bool,
        residual: bool = False,
        time_power: int = 0,
    ) -> None:
        super().__init__()
        if time_power < 0 or (time_power and not residual):
            raise ValueError(
                f"Surrogate2D: time_power must be >= 0 and needs residual=True, got "
                f"time_power={time_power}, residual={residual}"
            )
        self.inner, self.lifted = inner, lifted
        self.residual, self.time_power = residual, time_power

    def _base(self, x: Tensor, lift: Tensor | None) -> Tensor | None:
        """(B, C, n_x, n_y) added to every frame, or None (docstring)."""
        if self.lifted and lift is None:
            raise ValueError("Surrogate2D: lifted BOON needs lift (B, C, n_x, n_y)")
        lift = lift.to(x.dtype) if self.lifted and lift is not None else None
        if not self.residual:
            return lift
        if isinstance(self.inner.net, FNO):
            return x
        net = self.inner.net
        names = tuple(net.names[:2])
        zero = {ax: (x.new_zeros(x.shape[0]), x.new_zeros(x.shape[0])) for ax in ("x", "y")}
        vals = wall_values(net.bcs, zero, names, x)
        coords = {n: axis_coords(None, n, x.shape[2 + i]) for i, n in enumerate(names)}
        free = x if lift is None else x - lift
        base = apply_boundary_conditions(free, net.bcs, vals, coords, names)
        return base if lift is None else base + lift

    def forward(self, x: Tensor, lift: Tensor | None = None, tau: Tensor | None = None) -> Tensor:
        if isinstance(self.inner.net, FNO):
            out = self.inner(x)
        else:
            zero = x.new_zeros(x.shape[0])
            out = self.inner(x, dict.fromkeys(FACES, zero))
        if tau is not None and tuple(tau.shape) != (out.shape[-1],):
            raise ValueError(
                f"Surrogate2D: tau must have shape ({out.shape[-1]},), got {tuple(tau.shape)}"
            )
        if self.time_power:
            n_t = out.shape[-1]
            if tau is None:
                tau = torch.arange(1, n_t + 1, dtype=out.dtype, device=out.device) / n_t
            out = out * tau.to(out.dtype) ** self.time_power
        base = self._base(x, lift)
        return out if base is None else out + base.unsqueeze(-1).to(out.dtype)


def _loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Mean over the batch of the per-sample relative L2 (the article's ``LpLoss.rel``)."""
    return _rel(model(batch["x"], batch.get("lift")), batch["y"]).mean()


def _frame_loss(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    r"""Mean over the batch and the T frames of :math:`\|\hat u_k - u_k\|/\|u_k\|` (the
    per-frame metric), so that every frame weighs the same whatever its norm."""
    pred, y = model(batch["x"], batch.get("lift")), batch["y"]
    err = (pred - y).pow(2).sum(dim=(1, 2, 3)).sqrt()  # (B, T)
    return (err / y.pow(2).sum(dim=(1, 2, 3)).sqrt()).mean()


def _summary(res: Mapping[str, Tensor], prefix: str) -> dict[str, float]:
    flat = torch.cat([r.abs().flatten() for r in res.values()])
    out = {prefix: float(flat.mean()), f"{prefix}_max": float(flat.max())}
    out.update({f"{prefix}_{face}": float(r.abs().mean()) for face, r in res.items()})
    return out


def metrics_2d(
    pred: Tensor,
    true: Tensor,
    bcs: BoundaryConditions,
    walls: Mapping[str, Tensor],
    near: int,
    case: str,
) -> dict[str, Any]:
    """Metrics of one model (module docstring); ``pred``, ``true``: (B, C, n_x, n_y, T);
    ``walls[face]``: (B, C, n_wall, 1) prescribed wall data."""
    rel = _rel(pred, true)
    n = rel.numel()
    frames = [float(_rel(pred[..., k], true[..., k]).mean()) for k in range(true.shape[-1])]
    out: dict[str, Any] = {
        "rel_l2": float(rel.mean()),
        "rel_l2_se": float(rel.std() / math.sqrt(n)) if n > 1 else 0.0,
        "rel_l2_per_frame": frames,
    }
    nx, ny = true.shape[2:4]
    ix, iy = torch.arange(nx), torch.arange(ny)
    mask = ((ix < near) | (ix >= nx - near))[:, None] | ((iy < near) | (iy >= ny - near))[None, :]
    out["rel_l2_near_boundary"] = float(_rel(pred[:, :, mask], true[:, :, mask]).mean())
    names = ("x", "y", "t")
    orders: list[int | None] = [None, HI_ORDER] if _KIND[case] == "neumann" else [None]
    for order, prefix in zip(orders, ("boundary_error", "boundary_error_hi_order"), strict=False):
        per_c = [
            boundary_residuals(
                pred[:, c : c + 1], bcs, {f: w[:, c] for f, w in walls.items()}, names, order
            )
            for c in range(pred.shape[1])
        ]
        out.update(_summary({f: torch.cat([r[f] for r in per_c], 1) for f in FACES}, prefix))
    if case == "cavity":
        h = 1.0 / (nx - 1)
        wp, wt = curl(pred[:, 0], pred[:, 1], h), curl(true[:, 0], true[:, 1], h)
        out["vorticity_rel_l2"] = float(_rel(wp, wt).mean())
        out["vorticity_rel_l2_per_frame"] = [
            float(_rel(wp[..., k], wt[..., k]).mean()) for k in range(wt.shape[-1])
        ]
    return out


@torch.no_grad()
def _predict(model: Surrogate2D, split: Mapping[str, Tensor], batch: int) -> Tensor:
    model.eval()
    dtype = next(model.parameters()).dtype
    outs = []
    for i in range(0, int(split["x"].shape[0]), batch):
        lift = split.get("lift")
        lift = None if lift is None else lift[i : i + batch].to(dtype)
        outs.append(model(split["x"][i : i + batch].to(dtype), lift))
    return torch.cat(outs)


def _data(cfg: BoonConfig, out: Path, log: Log) -> dict[str, PDEData]:
    d = cfg.data
    key = config_hash({"case": cfg.case, "runner": "boon2d", "data": to_dict(d)})
    folder = out / "data" / key[:16]
    names = ("train", "test", "test_2x") if d.eval_2x else ("train", "test")
    if all((folder / f"{s}.h5").exists() for s in names):
        try:  # read_dataset verifies every checksum
            return {s: read_dataset(folder / f"{s}.h5") for s in names}
        except ValueError as err:
            log(f"data: regenerating {folder}: {err}")
    log(f"data: generating {cfg.case} train {d.n_train}, test {d.n_test}, n_x={d.n_x}")
    splits = build_splits(cfg.case, d.n_train, d.n_test, d.n_x, d.seed, d.eval_2x)
    folder.mkdir(parents=True, exist_ok=True)
    for s, data in splits.items():
        write_dataset(folder / f"{s}.h5", data)
    return splits


def _model(
    cfg: BoonConfig,
    key: str,
    bcs: BoundaryConditions,
    channels: int,
    residual: bool | None = None,
    time_power: int | None = None,
) -> Surrogate2D:
    """Model ``key`` of ``cfg`` (weights from ``cfg.seed``); ``residual`` and ``time_power``
    default to :data:`pcml.experiments.boon2d.RESIDUAL_2D` and the power of
    ``INCREMENT_SCALING_2D[case]`` (:data:`pcml.experiments.boon2d.INCREMENT_POWER`)."""
    from pcml.experiments.boon2d import INCREMENT_POWER, INCREMENT_SCALING_2D, RESIDUAL_2D

    inner = build_model(cfg, key, bcs, (channels, channels), 25)
    res = RESIDUAL_2D if residual is None else residual
    default = INCREMENT_POWER[INCREMENT_SCALING_2D[cfg.case]] if res else 0
    p = default if time_power is None else time_power
    lifted = key != "fno" and cfg.case == "cavity"
    return Surrogate2D(inner, lifted=lifted, residual=res, time_power=p)


def run_2d(
    cfg: BoonConfig,
    out: Path | str,
    command: str = "",
    progress: bool = True,
    figures: bool = True,
    log: Log = print,
) -> dict[str, dict[str, Any]]:
    """Run the 2-D experiment of ``cfg`` (case ``cavity`` or ``wave2d``) in ``out``."""
    if cfg.case not in _KIND or not cfg.multi_step:
        raise ValueError(
            f"run_2d: cfg.case must be one of {tuple(_KIND)} (multi-step), got {cfg.case!r}"
        )
    t_start = time.perf_counter()
    rd = RunDir(out)
    rd.start(cfg, command)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    raw = _data(cfg, rd.path, log)
    sets = {s: to_tensors(d, cfg.case) for s, d in raw.items()}
    walls = {s: wall_data(d, cfg.case) for s, d in raw.items()}
    timings["data_s"] = time.perf_counter() - t0

    bcs = boundary_conditions(dict.fromkeys(FACES, _KIND[cfg.case]), cfg.boon.neumann_orders)
    channels = int(sets["train"]["x"].shape[1])
    dtype = torch.float64 if cfg.eval_dtype == "float64" else torch.float32
    case = get_case(cfg.case)
    details: dict[str, Any] = {
        "case": cfg.case,
        "bc_source": case.bc_source,
        "config_hash": config_hash(cfg),
        "n_test": cfg.data.n_test,
        "history": {},
        "resumed_from": {},
        "rel_l2_per_frame_at_2x_resolution": {},
        "residual_in_time": None,
        "time_power": None,
        "increment_scaling": None,
    }
    metrics: dict[str, dict[str, Any]] = {}
    preds: dict[str, Tensor] = {}
    for key in cfg.models:
        model = _model(cfg, key, bcs, channels)
        details["residual_in_time"] = model.residual
        details["time_power"] = model.time_power
        details["increment_scaling"] = {p: n for n, p in INCREMENT_POWER.items()}[model.time_power]
        details["frame_loss"] = FRAME_LOSS_2D[cfg.case]
        t0 = time.perf_counter()
        loss = _frame_loss if FRAME_LOSS_2D[cfg.case] else _loss
        res = fit(
            model, loss, TensorDictDataset(sets["train"]), None, cfg.train, rd.path, key,
            progress=progress,
            model_config={
                "model": to_dict(cfg.model), "boon": to_dict(cfg.boon), "key": key,
                "residual": model.residual, "time_power": model.time_power,
                "frame_loss": FRAME_LOSS_2D[cfg.case],
            },
        )  # fmt: skip
        train_s = time.perf_counter() - t0
        timings[f"train_{key}_s"] = train_s
        details["resumed_from"][key] = res.resumed_from
        details["history"][key] = [r["train_loss"] for r in res.history]
        log(f"{key}: {res.epochs} epochs in {train_s:.1f} s, train loss {res.train_loss:.4g}")
        t0 = time.perf_counter()
        emodel = _model(cfg, key, bcs, channels)
        emodel.load_state_dict(model.state_dict())
        emodel = emodel.to(dtype)
        pred = _predict(emodel, sets["test"], cfg.eval_batch_size)
        w = {f: v.to(dtype) for f, v in walls["test"].items()}
        m = metrics_2d(pred, sets["test"]["y"].to(dtype), bcs, w, cfg.near_boundary_nodes, cfg.case)
        if "test_2x" in sets:
            p2 = _predict(emodel, sets["test_2x"], cfg.eval_batch_size)
            w2 = {f: v.to(dtype) for f, v in walls["test_2x"].items()}
            m2 = metrics_2d(p2, sets["test_2x"]["y"].to(dtype), bcs, w2, 1, cfg.case)
            m["rel_l2_at_2x_resolution"] = m2["rel_l2"]
            m["boundary_error_at_2x_resolution"] = m2["boundary_error"]
            m["boundary_error_max_at_2x_resolution"] = m2["boundary_error_max"]
            details["rel_l2_per_frame_at_2x_resolution"][key] = m2["rel_l2_per_frame"]
        m.update(n_parameters=count_parameters(model), final_train_loss=res.train_loss)
        m.update(epochs=res.epochs)  # train_s: wall-clock, in details.json (timings_s)
        timings[f"eval_{key}_s"] = time.perf_counter() - t0
        metrics[key], preds[key] = m, pred
    rd.write_metrics(metrics)
    if "fno" in preds:
        details["paired_per_frame"] = {
            k: paired_per_frame(preds[k], preds["fno"], sets["test"]["y"].to(dtype))
            for k in preds
            if k != "fno"
        }
    details["data_floor"] = _floors(cfg, raw["test"], sets["test"], bcs, walls["test"])
    if figures:
        t0 = time.perf_counter()
        from pcml.experiments.plots_boon2d import make_figures_2d

        make_figures_2d(rd, cfg, sets["test"], preds, metrics)
        timings["figures_s"] = time.perf_counter() - t0
    timings["total_s"] = time.perf_counter() - t_start
    details["timings_s"] = timings
    write_json_atomic(rd.path / "details.json", details)
    rd.write_table(format_table_2d(cfg, metrics, details, command))
    if figures:
        from pcml.experiments.report import build_report

        build_report(rd.path)
    return metrics


def paired_per_frame(pred: Tensor, base: Tensor, true: Tensor) -> dict[str, list[float]]:
    r"""Paired per-frame comparison of ``pred`` against ``base`` on the same test samples.

    :math:`d_{ik} = e_{ik}(\text{pred}) - e_{ik}(\text{base})` with :math:`e_{ik}` the relative L2
    of sample i at frame k; returns ``mean`` (the difference of the per-frame metrics), ``se``
    (std/√n over samples, the paired standard error) and ``frac_le`` (share of samples with
    d ≤ 0), each a list over the T frames. ``pred``, ``base``, ``true``: (B, C, n_x, n_y, T)."""
    if not pred.shape == base.shape == true.shape:
        raise ValueError(
            f"paired_per_frame: pred {tuple(pred.shape)}, base {tuple(base.shape)} and true "
            f"{tuple(true.shape)} must have the same shape"
        )
    d = torch.stack(
        [_rel(pred[..., k], true[..., k]) - _rel(base[..., k], true[..., k]) for k in
         range(true.shape[-1])], dim=-1,
    )  # fmt: skip
    n = d.shape[0]
    se = d.std(dim=0) / math.sqrt(n) if n > 1 else torch.zeros_like(d[0])
    return {
        "mean": d.mean(0).tolist(),
        "se": se.tolist(),
        "frac_le": (d <= 0).to(d.dtype).mean(0).tolist(),
    }


def _floors(
    cfg: BoonConfig, data: PDEData, test: Mapping[str, Tensor], bcs: BoundaryConditions,
    walls: Mapping[str, Tensor],
) -> dict[str, float]:  # fmt: skip
    """What the truth itself scores: wall residual of the exact data under the metric's stencil
    (Neumann truncation), and (cavity) curl of the true velocity vs the stored solver vorticity."""
    y = test["y"].double()
    w = {f: v.double() for f, v in walls.items()}
    m = metrics_2d(y, y, bcs, w, 1, cfg.case)
    out = {k: v for k, v in m.items() if k.startswith("boundary_error") and isinstance(v, float)}
    if cfg.case == "cavity":
        h = 1.0 / (y.shape[2] - 1)
        omega = torch.from_numpy(data.fields["omega"][:, 1:]).double().movedim(1, -1)
        out["curl_vs_solver_vorticity_rel_l2"] = float(
            _rel(curl(y[:, 0], y[:, 1], h), omega).mean()
        )
    return out


def format_table_2d(
    cfg: BoonConfig, metrics: Mapping[str, Mapping[str, Any]], details: Mapping[str, Any],
    command: str = "",
) -> str:  # fmt: skip
    """Markdown: summary table, per-frame relative L2 table, BC provenance, stage times."""
    cols = [
        ("rel_l2", "rel. L2"),
        ("vorticity_rel_l2", "vorticity rel. L2"),
        ("rel_l2_near_boundary", "rel. L2 near walls"),
        ("boundary_error", "bdy err (mean)"),
        ("boundary_error_max", "bdy err (max)"),
        ("boundary_error_hi_order", "flux err 6th-order"),
        ("rel_l2_at_2x_resolution", "rel. L2 @2x"),
        ("boundary_error_max_at_2x_resolution", "bdy err max @2x"),
        ("train_s", "train s"),
    ]
    metrics = with_train_seconds(metrics, details.get("timings_s", {}))
    cols = [c for c in cols if any(c[0] in m for m in metrics.values())]
    n = cfg.data.n_x
    lines = [
        f"# BOON 2-D: {cfg.case}, u0 -> 25 frames, profile {cfg.profile}",
        "",
        *([f"Command: `{command}`", ""] if command else []),
        f"Boundary data: {details['bc_source']}",
        "",
        f"Grid {n}x{n} nodes (walls included) x 25 frames; train {cfg.data.n_train}, test "
        f"{cfg.data.n_test} (independent draws); rel. L2 = test mean of "
        "||pred - true|| / ||true||.",
        "",
        *metric_rows(metrics, cols),
    ]
    keys = list(metrics)
    lines += ["", "Relative L2 per predicted frame:", ""]
    lines += ["| frame | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for k in range(len(next(iter(metrics.values()))["rel_l2_per_frame"])):
        cells = [f"{metrics[m]['rel_l2_per_frame'][k]:.4g}" for m in keys]
        lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    paired = details.get("paired_per_frame", {})
    if paired:
        lines += ["", "Paired per-frame difference to the FNO (mean ± SE over test samples):", ""]
        lines += ["| frame | " + " | ".join(f"{k} − fno" for k in paired) + " |"]
        lines += ["|---|" + "---|" * len(paired)]
        for k in range(len(next(iter(paired.values()))["mean"])):
            cells = [f"{p['mean'][k]:+.4f} ± {p['se'][k]:.4f}" for p in paired.values()]
            lines.append(f"| {k + 1} | " + " | ".join(cells) + " |")
    if "fno" in metrics:
        f = metrics["fno"]["rel_l2_per_frame"]
        lines.append("")
        for key in (k for k in keys if k.startswith("boon")):
            b = metrics[key]["rel_l2_per_frame"]
            wins = sum(bb <= ff for bb, ff in zip(b, f, strict=True))
            name = "BOON" if key == "boon" else key
            lines.append(f"{name} rel. L2 <= FNO rel. L2 at {wins} of {len(f)} frames.")
    scaling = details.get("increment_scaling")
    if details.get("residual_in_time"):
        lines += [
            "",
            f"Every model predicts the increment u(t) - u(0); increment scaling: {scaling}.",
        ]
    floor = details.get("data_floor", {})
    if floor:
        lines += ["", "Truth scored by the same metrics (floors): "]
        lines[-1] += ", ".join(
            f"{k} {v:.3g}" for k, v in floor.items() if not any(f in k for f in FACES)
        )
    t = details.get("timings_s", {})
    lines += ["", "Stage times (s): " + ", ".join(f"{k[:-2]} {v:.1f}" for k, v in t.items())]
    return "\n".join(lines) + "\n"
