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

import json
import math
import sys
from pathlib import Path

import torch

from pcml.experiments.boon.cases import get_case
from pcml.experiments.boon.layouts import LAYOUTS
from pcml.experiments.boon.runner import predict, soft_variants
from pcml.experiments.boon.study import study_config
from pcml.train.checkpoint import load_checkpoint

#: x-bands of the error decomposition: the insulated end, the interior, the heater's layer
BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.1), (0.1, 0.7), (0.7, 0.9), (0.9, 1.0))

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
    split = data.splits["ood"]
    y = split["y"].double().flatten(1)
    x = torch.linspace(0.0, 1.0, y.shape[1], dtype=torch.float64)
    for key in cfg.models:
        name = soft_variants(cfg, key)[0][0]
        if metrics[key].get("soft_weight") is not None:
            name = f"{key}_w{metrics[key]['soft_weight']:g}"
        model = layout.model(cfg, key, data, scale)
        model.load_state_dict(
            load_checkpoint(out / "checkpoints" / f"{name}-last.pt")["state_dict"]
        )
        p = predict(model.double().eval(), split, cfg.eval_batch_size).double().flatten(1)
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


def ms(v: list[float]) -> str:
    m = sum(v) / len(v)
    se = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1) / len(v)) if len(v) > 1 else math.nan
    return f"{m:.3g} ± {se:.2g}"


print(f"{case_name}, seeds {seeds}, OOD split: amplitude vs shape of the error")
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
