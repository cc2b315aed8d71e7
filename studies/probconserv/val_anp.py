"""Train (or reuse) a quick-profile Stefan ANP with overrides, then score it on the VALIDATION split.

usage: val_anp.py OUT [--threads N] [--ckpt best|last] [--score-only] [key=value ...]
Scores anp / hardc_anp / probconserv_anp at t* = 0.05 on the 100 validation functions
(u* ~ U[0.55, 0.70]) with the evaluation code of the run (apply_method, slice_metrics).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from pcml.constraints import quadrature_weights
from pcml.experiments.probconserv import _PointTasks, _build, _train, prepare_data
from pcml.experiments.probconserv_config import make_config
from pcml.experiments.probconserv_eval import (
    METHOD_SPECS, _queries, apply_method, predict_components, slice_metrics,
)
from pcml.pdes.gpme import get_problem
from pcml.train import load_checkpoint

args = sys.argv[1:]
out = Path(args.pop(0))
threads, ckpt, score_only = 1, None, False
rest = []
while args:
    a = args.pop(0)
    if a == "--threads":
        threads = int(args.pop(0))
    elif a == "--ckpt":
        ckpt = args.pop(0)
    elif a == "--score-only":
        score_only = True
    else:
        rest.append(a)
torch.set_num_threads(threads)
cfg = make_config("stefan", "quick", overrides=rest)
paths = prepare_data(cfg, out)
data = {k: _PointTasks(p) for k, p in paths.items() if k != "test"}  # never the test split
t0, c0 = time.perf_counter(), time.process_time()
if score_only:
    model = _build("anp", cfg)
    model.load_state_dict(load_checkpoint(out / "checkpoints" / f"anp-{ckpt or 'best'}.pt")["state_dict"])
    res = None
else:
    model, res = _train("anp", cfg, data, out, progress=False)
    if ckpt == "last":
        model.load_state_dict(load_checkpoint(out / "checkpoints" / "anp-last.pt")["state_dict"])
train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - c0
model.eval()

prob = get_problem("stefan")
val = data["valid"].data
params = np.asarray(next(iter(val.params.values())), dtype=np.float64)
times = np.asarray(val.time, dtype=np.float64)
x = np.asarray(val.coords["x"], dtype=np.float64)
k = int(np.argmin(np.abs(times - prob.t_star)))
assert abs(times[k] - 0.05) < 1e-9
u = torch.as_tensor(prob.solution(times[k], x[None, :], params[:, None]), dtype=torch.float64)
mass = torch.as_tensor(np.asarray(val.conserved.mass_rhs), dtype=torch.float64)[:, k]
pts = val.points
cx = torch.as_tensor(np.asarray(pts.context_inputs), dtype=torch.float32)
cy = torch.as_tensor(np.asarray(pts.context_values), dtype=torch.float32)
xt = torch.as_tensor(x, dtype=torch.float64)
g = quadrature_weights(xt)
front = torch.as_tensor(prob.front(prob.t_star, params), dtype=torch.float64)
means, variances = predict_components(model, cx, cy, _queries(times[k:k+1], x, len(params)),
                                      cfg.n_latent_samples, 12345)
near = torch.as_tensor(np.abs(params - 0.6) <= 0.025)
summary = {"train_wall_s": train_wall, "train_cpu_s": train_cpu,
           "best_epoch": None if res is None else res.best_epoch,
           "best_val_loss": None if res is None else res.best_val_loss}
for j, m in enumerate(("anp", "hardc_anp", "probconserv_anp")):
    gen = torch.Generator().manual_seed(777 + j)
    o, s = apply_method(METHOD_SPECS[m], means, variances, g, mass, n_samples=500, generator=gen)
    r = slice_metrics(o, u, xt, mass, s)
    err = r["shock_mean"] - front
    summary[m] = {"mse": float(r["mse"].mean()), "mse_near06": float(r["mse"][near].mean()),
                  "ce": float(r["ce"].mean()), "ll": float(r["ll"].mean()),
                  "shock_err": float(err.mean()), "shock_abserr": float(err.abs().mean()),
                  "shock_err_near06": float(err[near].mean())}
a, p = summary["anp"], summary["probconserv_anp"]
summary["ratio"] = a["mse"] / p["mse"]
summary["ratio_near06"] = a["mse_near06"] / p["mse_near06"]
print(json.dumps(summary, indent=1))
(out / "val_summary.json").write_text(json.dumps(summary, indent=1))
