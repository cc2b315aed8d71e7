"""Wave2d, validation split: where the per-frame error sits (wall ring / rings 1-2 / interior),
FNO vs BOON, from validation checkpoints. Each part is ||e restricted|| / ||u_k||."""
import sys
from pathlib import Path
import torch
from pcml.data import read_dataset
from pcml.experiments.boon2d import profile_config
from pcml.experiments.boon2d_data import FACES, to_tensors
from pcml.experiments.boon2d_run import _model, _predict
from pcml.experiments.boon_eval import boundary_conditions
from pcml.train.checkpoint import load_checkpoint
import dataclasses
ckdir = dict(a.split("=", 1) for a in sys.argv[1:])  # KEY=RUN_DIR ...
order = 3
t = to_tensors(read_dataset(next(Path("runs/boon2d/wave2d-quick3/data").glob("*/train.h5"))), "wave2d")
va = {k: v[80:] for k, v in t.items()}
cfg = profile_config("wave2d", "quick")
cfg = dataclasses.replace(cfg, boon=dataclasses.replace(cfg.boon, neumann_orders=(order, order)))
bcs = boundary_conditions(dict.fromkeys(FACES, "neumann"), cfg.boon.neumann_orders)
y = va["y"].double(); x = va["x"].double(); n = y.shape[2]
i = torch.arange(n); ring = torch.minimum(torch.minimum(i, n - 1 - i)[:, None], torch.minimum(i, n - 1 - i)[None, :])
parts = {"wall": ring == 0, "ring1-2": (ring >= 1) & (ring <= 2), "inner": ring >= 3}
for key in ckdir:
    m = _model(cfg, key, bcs, 1)
    m.load_state_dict(load_checkpoint(Path(ckdir[key]) / "checkpoints" / f"{key}-last.pt")["state_dict"])
    p = _predict(m.double(), va, 50); e = p - y
    for k in (0, 1, 2, 3, 5, 12, 24):
        tot = y[..., k].flatten(1).norm(dim=1)
        cells = [f"{nm} {float((e[..., k][:, :, mk].flatten(1).norm(dim=1) / tot).mean()):.3f}" for nm, mk in parts.items()]
        full = float((e[..., k].flatten(1).norm(dim=1) / tot).mean())
        inc = float(((y[..., k] - x).flatten(1).norm(dim=1) / tot).mean())
        print(f"{key:5s} frame {k+1:2d} total {full:.3f} | " + " | ".join(cells) + f" | true |u_k-u0|/|u_k| {inc:.3f}")
