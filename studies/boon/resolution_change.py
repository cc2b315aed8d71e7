"""How much a trained model's prediction moves when the grid is refined (issue #13).

    δ_2N = ‖ŷ_2N|_common − ŷ_N‖ / ‖ŷ_N‖,   δ_4N likewise (per test sample, then averaged),

where ŷ_kN|_common is the prediction on the k-times finer grid restricted to the nodes it shares
with the training grid (the study's grids are nested: x_i at N is x_{ki} at kN). The targets on
the common nodes are identical at N, 2N and 4N (checked here), so δ measures the operator alone,
independent of how accurate it is — unlike the growth factor err(2N)/err(N), which divides the
same discretisation change by a smaller number for a more accurate model.

    OMP_NUM_THREADS=1 python studies/boon/resolution_change.py \
        heat-neumann runs/boon-study/heat-neumann

Reads the finished seed directories of ``pcml boon study`` (1-D cases); prints a markdown table
of δ_2N and δ_4N (mean ± SE over seeds) per model.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from pcml.experiments.boon.cases import get_case
from pcml.experiments.boon.layouts import LAYOUTS
from pcml.experiments.boon.runner import predict, soft_variants
from pcml.experiments.boon.study import study_config
from pcml.train.checkpoint import load_checkpoint

case_name, root = sys.argv[1], Path(sys.argv[2])
seeds = sorted(int(p.name[4:]) for p in root.glob("seed*") if p.name[4:].isdigit())
rows: dict[str, dict[str, list[float]]] = {}
for seed in seeds:
    cfg = study_config(case_name, "quick", seed)
    case = get_case(cfg.case)
    layout = LAYOUTS[case.layout]
    out = root / f"seed{seed}"
    data = layout.load(cfg, case, out, lambda *a: None)
    scale = layout.scale(cfg, data)
    metrics = json.loads((out / "metrics.json").read_text())
    y = data.splits["test"]["y"].double()
    for key in cfg.models:
        name = soft_variants(cfg, key)[0][0]
        if metrics[key].get("soft_weight") is not None:
            name = f"{key}_w{metrics[key]['soft_weight']:g}"
        model = layout.model(cfg, key, data, scale)
        model.load_state_dict(
            load_checkpoint(out / "checkpoints" / f"{name}-last.pt")["state_dict"]
        )
        model = model.double().eval()
        p = predict(model, data.splits["test"], cfg.eval_batch_size).double()
        for split, k in (("2x", 2), ("4x", 4)):
            yk = data.splits[split]["y"].double()[..., ::k]
            if yk.shape != y.shape:
                raise ValueError(
                    f"{split}: grids are not nested ({tuple(yk.shape)} vs {tuple(y.shape)})"
                )
            ty = float(((yk - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1)).max())
            pk = predict(model, data.splits[split], cfg.eval_batch_size).double()[..., ::k]
            d = (pk - p).flatten(1).norm(dim=1) / p.flatten(1).norm(dim=1)
            rows.setdefault(key, {}).setdefault(split, []).append(float(d.mean()))
            rows[key].setdefault(f"target_{split}", []).append(ty)


def ms(v: list[float]) -> str:
    m = sum(v) / len(v)
    se = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1) / len(v)) if len(v) > 1 else math.nan
    return f"{m:.3g} ± {se:.2g}"


print(f"{case_name}, seeds {seeds}: relative change of the prediction on the common nodes")
print("| model | δ_2N (N → 2N) | δ_4N (N → 4N) | targets, max change |")
print("|---|---|---|---|")
for key, r in rows.items():
    t = max(r["target_2x"] + r["target_4x"])
    print(f"| {key} | {ms(r['2x'])} | {ms(r['4x'])} | {t:.1g} |")
