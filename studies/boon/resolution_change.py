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

import sys
from pathlib import Path

from _trained import mean_se, seeds

from pcml.experiments.boon.runner import predict

case_name, root = sys.argv[1], Path(sys.argv[2])
rows: dict[str, dict[str, list[float]]] = {}
found: list[int] = []
for sd in seeds(case_name, root):
    found.append(sd.seed)
    cfg, data = sd.cfg, sd.data
    y = data.splits["test"]["y"].double()
    for key, model in sd.models.items():
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


ms = mean_se
print(f"{case_name}, seeds {found}: relative change of the prediction on the common nodes")
print("| model | δ_2N (N → 2N) | δ_4N (N → 4N) | targets, max change |")
print("|---|---|---|---|")
for key, r in rows.items():
    t = max(r["target_2x"] + r["target_4x"])
    print(f"| {key} | {ms(r['2x'])} | {ms(r['4x'])} | {t:.1g} |")
