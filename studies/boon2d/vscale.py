"""Issue 8 frame 1: increment scaling tau^p (p = 0, 1, 2) on the wave, validation split.
Per suffix: each model's mean and frame 1; boon_none - FNO paired at frames 1-3 (same p), wins,
worst frame; and persistence (u(0)) per frame for reference."""
import json, math
from pathlib import Path
import numpy as np
V = Path("runs/boon2d/val4")
def load(k, suf):
    return json.loads((V / f"wave2d-{k}-e30-s10-eps0.1-o3{suf}.json").read_text())
for suf in ("", "-p1", "-p2"):
    try:
        f, b = load("fno", suf), load("boon_none", suf)
    except FileNotFoundError:
        continue
    F, B = np.array(f["per_sample_frame"]), np.array(b["per_sample_frame"])
    d = B - F; m = d.mean(0); se = d.std(0, ddof=1) / math.sqrt(len(d))
    lose = [k + 1 for k in range(25) if m[k] > 0]
    print(f"p{suf or '-p0'}: FNO {f['val_rel_l2']:.4f} f1 {F[:,0].mean():.4f} | boon_none {b['val_rel_l2']:.4f} f1 {B[:,0].mean():.4f}"
          f" | wins {25-len(lose)}/25 lose {lose} | paired f1-3 " + " ".join(f"{m[k]:+.4f}±{se[k]:.4f}" for k in range(3))
          + f" | worst {m.max():+.4f} (f{m.argmax()+1}) | f1 frac<=0 {(d[:,0]<=0).mean():.2f}")
    print("   FNO ", " ".join(f"{v:.3f}" for v in F.mean(0)[:8]), "\n   none", " ".join(f"{v:.3f}" for v in B.mean(0)[:8]))
# the channel-wise BOON (eps 0.1) against the FNO of the same scaling
for suf in ("", "-p1", "-p2"):
    try:
        f, b = load("fno", suf), load("boon", suf)
    except FileNotFoundError:
        continue
    F, B = np.array(f["per_sample_frame"]), np.array(b["per_sample_frame"])
    d = B - F; m = d.mean(0); se = d.std(0, ddof=1) / math.sqrt(len(d))
    lose = [k + 1 for k in range(25) if m[k] > 0]
    print(f"boon p{suf or '-p0'}: {b['val_rel_l2']:.4f} f1 {B[:,0].mean():.4f} wins {25-len(lose)}/25 lose {lose} | paired f1-3 "
          + " ".join(f"{m[k]:+.4f}±{se[k]:.4f}" for k in range(3)) + f" | f1 frac<=0 {(d[:,0]<=0).mean():.2f}" + "\n   boon", " ".join(f"{v:.3f}" for v in B.mean(0)[:8]))
