"""Wave2d: per-frame floor of an exact-Neumann model, ||B0(u) - u|| / ||u|| with B0 the homogeneous
Neumann enforcement (x faces then y faces) at stencil order p, on the TRAINING trajectories."""
import sys
from pathlib import Path
import torch
from pcml.constraints.boundary import apply_boundary_conditions, axis_coords, wall_values
from pcml.data import read_dataset
from pcml.experiments.boon2d_data import FACES, to_tensors
from pcml.experiments.boon_eval import boundary_conditions, rel_l2_per_sample as rel
t = to_tensors(read_dataset(next(Path("runs/boon2d/wave2d-quick3/data").glob("*/train.h5"))), "wave2d")
y = t["y"].double()[:80]; x = t["x"].double()[:80]
print("shapes", tuple(x.shape), tuple(y.shape))
for p in range(1, 7):
    bcs = boundary_conditions(dict.fromkeys(FACES, "neumann"), (p, p))
    names = ("x", "y")
    zero = {ax: (y.new_zeros(y.shape[0]), y.new_zeros(y.shape[0])) for ax in names}
    coords = {n: axis_coords(None, n, y.shape[2 + i]) for i, n in enumerate(names)}
    fr = []
    for k in range(y.shape[-1]):
        u = y[..., k]
        vals = wall_values(bcs, zero, names, u)
        b = apply_boundary_conditions(u, bcs, vals, coords, names)
        fr.append(float(rel(b, u).mean()))
    vals = wall_values(bcs, zero, names, x)
    bx = apply_boundary_conditions(x, bcs, vals, coords, names)
    # base error of the residual BOON at frame k if its increment were exact: B0(u0) - u0 relative to ||u_k||
    base = [float(((bx - x).flatten(1).norm(dim=1) / y[..., k].flatten(1).norm(dim=1)).mean()) for k in range(25)]
    print(f"order {p}: floor per frame", " ".join(f"{v:.4f}" for v in fr[:6]), "... mean", f"{sum(fr)/25:.4f}", "| base(u0) err / ||u_k||", " ".join(f"{v:.4f}" for v in base[:4]))
