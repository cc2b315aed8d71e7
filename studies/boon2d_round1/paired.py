"""Paired per-frame difference BOON - FNO on the test split of a finished run (mean ± SE over samples)."""
import sys, math
from pathlib import Path
import torch
from pcml.data import read_dataset
from pcml.experiments.boon2d import profile_config
from pcml.experiments.boon2d_data import FACES, to_tensors
from pcml.experiments.boon2d_run import _model, _predict
from pcml.experiments.boon_eval import boundary_conditions, rel_l2_per_sample as rel
from pcml.train.checkpoint import load_checkpoint
case, run = sys.argv[1], Path(sys.argv[2])
te = to_tensors(read_dataset(next((run / "data").glob("*/test.h5"))), case)
cfg = profile_config(case, "quick")
bcs = boundary_conditions(dict.fromkeys(FACES, "dirichlet" if case == "cavity" else "neumann"), cfg.boon.neumann_orders)
C = int(te["x"].shape[1]); y = te["y"].double(); P = {}
for key in ("fno", "boon"):
    m = _model(cfg, key, bcs, C); m.load_state_dict(load_checkpoint(run / "checkpoints" / f"{key}-last.pt")["state_dict"])
    P[key] = _predict(m.double(), te, 50)
d = torch.stack([rel(P["boon"][..., k], y[..., k]) - rel(P["fno"][..., k], y[..., k]) for k in range(25)], -1)  # (N, 25)
n = d.shape[0]
print("frame: mean(BOON-FNO) ± SE, fraction of samples with BOON <= FNO")
for k in range(25):
    print(k + 1, f"{float(d[:, k].mean()):+.4f} ± {float(d[:, k].std() / math.sqrt(n)):.4f}", f"{float((d[:, k] <= 0).double().mean()):.2f}")
