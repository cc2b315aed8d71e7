"""Markdown per-frame table of a finished test-split run: FNO, boon_none, boon, paired diffs ± SE."""
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
m = json.loads((run / "metrics.json").read_text()); d = json.loads((run / "details.json").read_text())
pp = d["paired_per_frame"]; keys = [k for k in m if k != "fno"]
print("| frame | FNO | " + " | ".join(keys) + " | " + " | ".join(f"{k} − FNO (± paired SE)" for k in keys) + " |")
print("|---|---|" + "---|" * (2 * len(keys)))
for i in range(25):
    cells = [f"{m['fno']['rel_l2_per_frame'][i]:.4f}"] + [f"{m[k]['rel_l2_per_frame'][i]:.4f}" for k in keys]
    cells += [f"{pp[k]['mean'][i]:+.4f} ± {pp[k]['se'][i]:.4f}" for k in keys]
    print(f"| {i+1} | " + " | ".join(cells) + " |")
print()
for k in keys:
    w = sum(b <= f for b, f in zip(m[k]["rel_l2_per_frame"], m["fno"]["rel_l2_per_frame"]))
    lose = [i + 1 for i in range(25) if m[k]["rel_l2_per_frame"][i] > m["fno"]["rel_l2_per_frame"][i]]
    print(f"- {k}: <= FNO at {w}/25 frames; above at {lose}")
for k in m:
    print(f"- {k}: rel. L2 {m[k]['rel_l2']:.4f} ± {m[k]['rel_l2_se']:.3f}, bdy err max {m[k]['boundary_error_max']:.3g}, @2x {m[k].get('rel_l2_at_2x_resolution', float('nan')):.3f} bdy max @2x {m[k].get('boundary_error_max_at_2x_resolution', float('nan')):.3g}, near walls {m[k]['rel_l2_near_boundary']:.3f}, vort {m[k].get('vorticity_rel_l2', float('nan')):.3f}, train {m[k]['train_s']:.0f} s, final loss {m[k]['final_train_loss']:.4f}")
print("timings", {k: round(v) for k, v in d["timings_s"].items()})
