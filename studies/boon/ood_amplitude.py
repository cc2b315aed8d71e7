"""Is a model's out-of-distribution error an amplitude error? (issue #14, heat-neumann)

For each OOD test sample the best scalar multiple of the prediction,

    α* = ⟨ŷ, y⟩ / ⟨ŷ, ŷ⟩,   e_raw = ‖ŷ − y‖ / ‖y‖,   e_shape = ‖α* ŷ − y‖ / ‖y‖,

separates the error into a wrong amplitude (removed by α*) and a wrong shape (e_shape), and the
error restricted to x-bands says where it is: (the insulated end, the interior, the heater's
side, the heater's layer). The heat solution is affine in the heater amplitude U
(u = h(u0) + U·g, u0 = cos(ωπx), u_x(1, t) = U sin(πt)), and g is a layer at the heater of
width ~ sqrt(νt). Per model: mean over the OOD samples, then mean ± SE over seeds. Measured
(3 seeds): the error is in the heater's layer, not an amplitude error (docs/results/boon.md).

    OMP_NUM_THREADS=1 python studies/boon/ood_amplitude.py heat-neumann runs/boon-study/heat-neumann

Reads the finished seed directories of ``pcml boon study`` (1-D cases with an OOD split).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from _trained import mean_se, seeds

from pcml.experiments.boon.runner import predict

#: x-bands of the error decomposition: the insulated end, the interior, the heater's layer
BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.1), (0.1, 0.7), (0.7, 0.9), (0.9, 1.0))

case_name, root = sys.argv[1], Path(sys.argv[2])
rows: dict[str, dict[str, list[float]]] = {}
found: list[int] = []
for sd in seeds(case_name, root):
    found.append(sd.seed)
    cfg, metrics, seed = sd.cfg, sd.metrics, sd.seed
    split = sd.data.splits["ood"]
    y = split["y"].double().flatten(1)
    x = torch.linspace(0.0, 1.0, y.shape[1], dtype=torch.float64)
    for key, model in sd.models.items():
        p = predict(model, split, cfg.eval_batch_size).double().flatten(1)
        alpha = (p * y).sum(1) / (p * p).sum(1)
        ny = y.norm(dim=1)
        raw = (p - y).norm(dim=1) / ny
        shape = (alpha[:, None] * p - y).norm(dim=1) / ny
        r = rows.setdefault(key, {})
        check = abs(float(raw.mean()) - metrics[key]["rel_l2_ood"])
        if check > 1e-6 * metrics[key]["rel_l2_ood"]:
            raise ValueError(
                f"seed {seed} {key}: rel. L2 {float(raw.mean())} is not metrics.json's"
            )
        r.setdefault("raw", []).append(float(raw.mean()))
        r.setdefault("shape", []).append(float(shape.mean()))
        r.setdefault("alpha", []).append(float((alpha - 1).abs().mean()))
        r.setdefault("alpha_signed", []).append(float((alpha - 1).mean()))
        for lo, hi in BANDS:  # where the error is: ‖(ŷ − y)|_band‖ / ‖y‖, squares add up
            band = (x >= lo) & (x < hi) if hi < 1 else x >= lo
            eb = (p - y)[:, band].norm(dim=1) / ny
            r.setdefault(f"band_{lo}", []).append(float(eb.mean()))


ms = mean_se
print(f"{case_name}, seeds {found}, OOD split: amplitude vs shape of the error")
HEAD = ("rel. L2 (e_raw)", "after the best scalar α* (e_shape)", "mean abs(α* − 1)", "mean α* − 1")
print("| model | " + " | ".join(HEAD) + " |")
print("|---|---|---|---|---|")
for key, r in rows.items():
    cells = (ms(r[k]) for k in ("raw", "shape", "alpha", "alpha_signed"))
    print(f"| {key} | " + " | ".join(cells) + " |")

print()
print("Where the OOD error is: ‖(ŷ − y) restricted to the band‖ / ‖y‖ (squares add up to e_raw²)")
print("| model | " + " | ".join(f"x ∈ [{lo}, {hi}]" for lo, hi in BANDS) + " |")
print("|---|" + "---|" * len(BANDS))
for key, r in rows.items():
    print(f"| {key} | " + " | ".join(ms(r[f"band_{lo}"]) for lo, _ in BANDS) + " |")
