"""Validation-split selection for the 2-D BOON quick profiles (80 / 20 of the TRAINING trajectories)."""
import dataclasses, json, sys, time
from pathlib import Path
import torch
from pcml.data import read_dataset
from pcml.experiments.boon import TensorDictDataset
from pcml.experiments.boon2d import profile_config
from pcml.experiments.boon2d_data import FACES, to_tensors
from pcml.experiments.boon2d_run import _loss, _model, _predict
from pcml.experiments.boon_eval import boundary_conditions, rel_l2_per_sample as rel
from pcml.train import fit

case, key, residual, epochs, step = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), int(sys.argv[5])
power = int(sys.argv[6]) if len(sys.argv) > 6 else 0
batch = int(sys.argv[7]) if len(sys.argv) > 7 else 10
frame_loss = len(sys.argv) > 8 and sys.argv[8] == "1"
tag = f"{case}-{key}-r{int(residual)}-e{epochs}-s{step}" + (f"-p{power}" if power else "") + (f"-b{batch}" if batch != 10 else "") + ("-fl" if frame_loss else "")
src = {"cavity": "cavity-quick2", "wave2d": "wave2d-quick"}[case]
f = next(Path(f"runs/boon2d/{src}/data").glob("*/train.h5"))
t = to_tensors(read_dataset(f), case)
tr = {k: v[:80] for k, v in t.items()}
va = {k: v[80:] for k, v in t.items()}
cfg = profile_config(case, "quick")
cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=epochs, step_size=step, batch_size=batch, validate_every=epochs, checkpoint_every=epochs))
kind = "dirichlet" if case == "cavity" else "neumann"
bcs = boundary_conditions(dict.fromkeys(FACES, kind), cfg.boon.neumann_orders)
C = int(tr["x"].shape[1])
model = _model(cfg, key, bcs, C, residual=residual, time_power=power)
t0 = time.perf_counter(); c0 = time.process_time()
def _floss(model, batch):
    p = model(batch["x"], batch.get("lift")); y = batch["y"]
    return ((p - y).pow(2).sum((1, 2, 3)).sqrt() / y.pow(2).sum((1, 2, 3)).sqrt()).mean()
res = fit(model, _floss if frame_loss else _loss, TensorDictDataset(tr), None, cfg.train, Path(f"runs/boon2d/val/{tag}"), key, progress=False)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
m = _model(cfg, key, bcs, C, residual=residual, time_power=power); m.load_state_dict(model.state_dict()); m = m.double()
p = _predict(m, va, 50); y = va["y"].double()
out = {"tag": tag, "val_rel_l2": float(rel(p, y).mean()),
       "per_frame": [float(rel(p[..., k], y[..., k]).mean()) for k in range(25)],
       "history": [r["train_loss"] for r in res.history], "train_wall_s": wall, "train_cpu_s": cpu}
Path(f"runs/boon2d/val/{tag}.json").write_text(json.dumps(out))
print(tag, round(out["val_rel_l2"], 4), [round(v, 3) for v in out["per_frame"][::4]], f"wall {wall:.0f}s cpu {cpu:.0f}s", flush=True)
