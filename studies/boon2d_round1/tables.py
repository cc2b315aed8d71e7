import json, sys
for run in sys.argv[1:]:
    m = json.load(open(f"{run}/metrics.json")); d = json.load(open(f"{run}/details.json"))
    keys = list(m)
    print(run, {k: round(v, 1) for k, v in d["timings_s"].items()})
    for k in keys:
        x = m[k]
        print(k, "rel", round(x["rel_l2"], 4), "se", round(x["rel_l2_se"], 4), "vort", round(x.get("vorticity_rel_l2", float("nan")), 4),
              "near", round(x["rel_l2_near_boundary"], 4), "bdy", f'{x["boundary_error"]:.3g}', f'{x["boundary_error_max"]:.3g}',
              "hi", f'{x.get("boundary_error_hi_order", float("nan")):.3g}', "2x", round(x["rel_l2_at_2x_resolution"], 4),
              "bdy2x", f'{x["boundary_error_max_at_2x_resolution"]:.3g}', "train_s", round(x["train_s"]), "loss", round(x["final_train_loss"], 4))
    f, b = m["fno"]["rel_l2_per_frame"], m["boon"]["rel_l2_per_frame"]
    print("wins", sum(bb <= ff for bb, ff in zip(b, f)), "losing frames", [i + 1 for i, (bb, ff) in enumerate(zip(b, f)) if bb > ff])
    print("| frame (t) | " + " | ".join(keys) + " |")
    for i in range(25):
        print(f"| {i+1} ({(i+1)*0.04:.2f}) | " + " | ".join(f"{m[k]['rel_l2_per_frame'][i]:.4f}" for k in keys) + " |")
    for k in keys: print(k, "hist", [round(v, 3) for v in d["history"][k]])
