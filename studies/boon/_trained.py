"""The trained models of a finished ``pcml boon study`` directory, seed by seed (shared by the
studies in this folder), and the mean ± SE cell of their tables."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from pcml.experiments.boon.cases import get_case
from pcml.experiments.boon.config import BoonConfig
from pcml.experiments.boon.layouts import LAYOUTS
from pcml.experiments.boon.runner import soft_variants
from pcml.experiments.boon.study import study_config
from pcml.train.checkpoint import load_checkpoint


@dataclass(frozen=True)
class Seed:
    """One seed directory: its config, data splits, metrics.json and trained models (float64,
    eval mode; ``fno_soft`` is the weight the study chose on validation)."""

    seed: int
    cfg: BoonConfig
    data: Any
    metrics: dict[str, Any]
    models: dict[str, nn.Module]


def seeds(case_name: str, root: Path) -> Iterator[Seed]:
    """Every ``root/seed<s>`` of the study of ``case_name`` (quick profile), in seed order."""
    found = sorted(int(p.name[4:]) for p in root.glob("seed*") if p.name[4:].isdigit())
    for seed in found:
        cfg = study_config(case_name, "quick", seed)
        case = get_case(cfg.case)
        layout = LAYOUTS[case.layout]
        out = root / f"seed{seed}"
        data = layout.load(cfg, case, out, lambda *a: None)
        scale = layout.scale(cfg, data)
        metrics = json.loads((out / "metrics.json").read_text())
        models = {}
        for key in cfg.models:
            name = soft_variants(cfg, key)[0][0]
            if metrics[key].get("soft_weight") is not None:
                name = f"{key}_w{metrics[key]['soft_weight']:g}"
            model = layout.model(cfg, key, data, scale)
            ckpt = load_checkpoint(out / "checkpoints" / f"{name}-last.pt")
            model.load_state_dict(ckpt["state_dict"])
            models[key] = model.double().eval()
        yield Seed(seed, cfg, data, metrics, models)


def mean_se(values: list[float]) -> str:
    """``mean ± SE`` over seeds (SE = sd / √n, sd with n − 1)."""
    m = sum(values) / len(values)
    n = len(values)
    se = math.sqrt(sum((x - m) ** 2 for x in values) / (n - 1) / n) if n > 1 else math.nan
    return f"{m:.3g} ± {se:.2g}"
