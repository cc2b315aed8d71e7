"""Validation-split selection (80 / 20 of the TRAINING trajectories) for the 2-D quick profiles.

usage: val.py CASE KEY EPOCHS STEP EPS ORDER [TIME_POWER]   (ORDER: Neumann stencil order at both ends, wave2d)
The model, residual-in-time and loss are the runner's (boon2d_run._model, FRAME_LOSS_2D)."""
import dataclasses, json, sys, time
from pathlib import Path
import torch
from pcml.data import read_dataset
from pcml.experiments.boon import TensorDictDataset
from pcml.experiments.boon2d import FRAME_LOSS_2D, profile_config
from pcml.experiments.boon2d_data import FACES, to_tensors
from pcml.experiments.boon2d_run import _frame_loss, _loss, _model, _predict
from pcml.experiments.boon_eval import boundary_conditions, rel_l2_per_sample as rel
from pcml.train import fit

case, key, epochs, step, eps, order = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
power = int(sys.argv[7]) if len(sys.argv) > 7 else 0
tag = f"{case}-{key}-e{epochs}-s{step}-eps{eps:g}-o{order}" + (f"-p{power}" if power else "")
src = {"cavity": "cavity-quick3", "wave2d": "wave2d-quick3"}[case]
t = to_tensors(read_dataset(next(Path(f"runs/boon2d/{src}/data").glob("*/train.h5"))), case)
tr = {k: v[:80] for k, v in t.items()}
va = {k: v[80:] for k, v in t.items()}
cfg = profile_config(case, "quick")
cfg = dataclasses.replace(
    cfg,
    train=dataclasses.replace(cfg.train, epochs=epochs, step_size=step, validate_every=epochs, checkpoint_every=epochs),
    boon=dataclasses.replace(cfg.boon, eps=eps, neumann_orders=(order, order)),
)
kind = "dirichlet" if case == "cavity" else "neumann"
bcs = boundary_conditions(dict.fromkeys(FACES, kind), cfg.boon.neumann_orders)
C = int(tr["x"].shape[1])
model = _model(cfg, key, bcs, C, time_power=power)
t0 = time.perf_counter(); c0 = time.process_time()
loss = _frame_loss if FRAME_LOSS_2D[case] else _loss
res = fit(model, loss, TensorDictDataset(tr), None, cfg.train, Path(f"runs/boon2d/val4/{tag}"), key, progress=False)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
m = _model(cfg, key, bcs, C, time_power=power); m.load_state_dict(model.state_dict()); m = m.double()
p = _predict(m, va, 50); y = va["y"].double()
per = torch.stack([rel(p[..., k], y[..., k]) for k in range(25)], -1)  # (n_val, 25)
out = {"tag": tag, "val_rel_l2": float(rel(p, y).mean()), "per_frame": per.mean(0).tolist(),
       "per_sample_frame": per.tolist(), "history": [r["train_loss"] for r in res.history],
       "train_wall_s": wall, "train_cpu_s": cpu}
Path(f"runs/boon2d/val4/{tag}.json").write_text(json.dumps(out))
print(tag, round(out["val_rel_l2"], 4), " ".join(f"{v:.3f}" for v in out["per_frame"]), f"wall {wall:.0f}s cpu {cpu:.0f}s", flush=True)
