"""Per-frame validation error split into wall band (2 nodes) vs interior, from val checkpoints."""
import sys
from pathlib import Path
import torch
from pcml.data import read_dataset
from pcml.experiments.boon2d import profile_config
from pcml.experiments.boon2d_data import FACES, to_tensors
from pcml.experiments.boon2d_run import _model, _predict
from pcml.experiments.boon_eval import boundary_conditions
from pcml.train.checkpoint import load_checkpoint
case, r = sys.argv[1], sys.argv[2] == "1"
src = {"cavity": "cavity-quick2", "wave2d": "wave2d-quick"}[case]
t = to_tensors(read_dataset(next(Path(f"runs/boon2d/{src}/data").glob("*/train.h5"))), case)
va = {k: v[80:] for k, v in t.items()}
cfg = profile_config(case, "quick")
bcs = boundary_conditions(dict.fromkeys(FACES, "dirichlet" if case == "cavity" else "neumann"), cfg.boon.neumann_orders)
C = int(va["x"].shape[1]); y = va["y"].double(); n = y.shape[2]
band = torch.zeros(n, n, dtype=torch.bool); band[:2] = band[-2:] = True; band[:, :2] = band[:, -2:] = True
for key in ("fno", "boon"):
    m = _model(cfg, key, bcs, C, residual=r)
    m.load_state_dict(load_checkpoint(f"runs/boon2d/val/{case}-{key}-r{int(r)}-e15-s5/checkpoints/{key}-last.pt")["state_dict"])
    p = _predict(m.double(), va, 50)
    e = (p - y)
    for k in (0, 1, 2, 4, 12, 24):
        tot = y[..., k].pow(2).sum((1, 2, 3)).sqrt()
        eb = e[..., k][:, :, band].pow(2).sum((1, 2)).sqrt() / tot
        ei = e[..., k][:, :, ~band].pow(2).sum((1, 2)).sqrt() / tot
        inc = (p[..., k] - va["x"].double()).flatten(1).norm(dim=1) / tot
        print(key, "frame", k + 1, "band", round(float(eb.mean()), 3), "interior", round(float(ei.mean()), 3), "|pred-u0|/|u|", round(float(inc.mean()), 3))
