import json
from pathlib import Path

cases = ["heat-neumann", "stokes-dirichlet", "burgers-dirichlet", "burgers-periodic"]
cols = ["rel_l2", "rel_l2_near_boundary", "boundary_error", "boundary_error_max",
        "boundary_error_hi_order", "rel_l2_at_2x_resolution", "boundary_error_max_at_2x_resolution"]
print("| case | model | rel. L2 (± s.e.) | rel. L2 near bdy | bdy error mean | bdy error max | 6th-order flux err | rel. L2 @2x | bdy err max @2x | train s |")
print("|---|---|---|---|---|---|---|---|---|---|")
ratios = []
for c in cases:
    d = Path("runs/boon-quick7") / c
    if not (d / "metrics.json").exists():
        continue
    m = json.loads((d / "metrics.json").read_text())
    det = json.loads((d / "details.json").read_text())
    t = det["timings_s"]
    for k, v in m.items():
        cells = []
        for col in cols:
            x = v.get(col)
            if x is None:
                cells.append("–")
            elif col == "rel_l2":
                cells.append(f"{x:.4g} ± {v['rel_l2_se']:.2g}")
            else:
                cells.append(f"{x:.3g}")
        cells.append(f"{t[f'train_{k}_s']:.0f}")
        print(f"| {c} | {k} | " + " | ".join(cells) + " |")
    r = m["fno"]["rel_l2"] / m["boon"]["rel_l2"]
    rr = m["fno"]["rel_l2"] / m["boon_reference"]["rel_l2"] if "boon_reference" in m else None
    nb = m["fno"]["rel_l2_near_boundary"] / m["boon"]["rel_l2_near_boundary"]
    ratios.append((c, r, rr, nb, det["target_scale"], det["timings_s"]["total_s"]))
print()
print("| case | FNO / BOON rel. L2 | FNO / BOON-ref rel. L2 | FNO / BOON near bdy | target scale s | total stage time s |")
print("|---|---|---|---|---|---|")
for c, r, rr, nb, s, tt in ratios:
    print(f"| {c} | {r:.2f} | {'–' if rr is None else f'{rr:.2f}'} | {nb:.2f} | {s:g} | {tt:.0f} |")
for c in cases:
    d = Path("runs/boon-quick7") / c
    if (d / "details.json").exists():
        t = json.loads((d / "details.json").read_text())["timings_s"]
        print(f"- {c}: " + ", ".join(f"{k[:-2]} {v:.0f} s" for k, v in t.items()))
