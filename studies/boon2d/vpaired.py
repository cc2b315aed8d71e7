"""Validation paired per-frame difference (variant - FNO), mean ± SE over the 20 validation samples."""
import json, math, sys
from pathlib import Path
import numpy as np
V = Path("runs/boon2d/val4")
case = sys.argv[1]
f = np.array(json.loads((V / f"{case}-fno-e30-s10-eps0.1-o3.json").read_text())["per_sample_frame"])
for tag in sys.argv[2:]:
    b = np.array(json.loads((V / f"{case}-{tag}.json").read_text())["per_sample_frame"])
    d = b - f
    m, se = d.mean(0), d.std(0, ddof=1) / math.sqrt(d.shape[0])
    print(case, tag, "wins", int((m <= 0).sum()), "| frames 1-3:", " ".join(f"{m[k]:+.4f}±{se[k]:.4f}" for k in range(3)),
          "| max mean:", f"{m.max():+.4f} (frame {m.argmax()+1})", "| min |mean|/se:", f"{(np.abs(m)/se).min():.2f}",
          "| frac samples <=0 at frame 1:", f"{(d[:, 0] <= 0).mean():.2f}")
