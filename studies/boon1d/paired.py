"""Per-sample validation rel. L2 of trained runs and paired differences (diagnostic script).

usage: paired.py RUN_A:KEY RUN_B:KEY ...  (first = reference)
"""
import sys
from pathlib import Path

import torch

from pcml.experiments.boon import build_model, load_split, predict, target_scale, _data_files
from pcml.experiments.boon_cases import get_case
from pcml.experiments.boon_config import BoonConfig
from pcml.experiments.boon_eval import boundary_conditions, rel_l2_per_sample
from pcml.experiments.config import from_dict
from pcml.train.checkpoint import load_checkpoint
import tomllib

torch.set_num_threads(1)


def per_sample(run: str, key: str) -> torch.Tensor:
    d = Path(run)
    cfg = from_dict(BoonConfig, tomllib.loads((d / "config.toml").read_text()))
    case = get_case(cfg.case)
    path, _ = _data_files(cfg, case, d, print)
    tr, kinds = load_split(path, False, range(cfg.data.n_train))
    te, _ = load_split(path, False, range(cfg.data.n_train, cfg.data.n_train + cfg.data.n_test))
    bcs = boundary_conditions(kinds, cfg.boon.neumann_orders)
    s = target_scale(tr["y"]) if cfg.normalize_targets else 1.0
    m = build_model(cfg, key, bcs, (1, 1), None, s)
    ck = load_checkpoint(d / "checkpoints" / f"{key}-last.pt")
    m.load_state_dict(ck["state_dict"])
    m = m.double()
    pred = predict(m, te, 50)
    return rel_l2_per_sample(pred, te["y"].double())


items = [a.rsplit(":", 1) for a in sys.argv[1:]]
errs = [per_sample(r, k) for r, k in items]
ref = errs[0]
for (r, k), e in zip(items, errs):
    d = e - ref
    n = len(e)
    print(f"{r}:{k}  mean {e.mean():.5f} ± {e.std() / n**0.5:.2g}  median {e.median():.5f}  "
          f"diff vs first {d.mean():+.5f} ± {d.std() / n**0.5:.2g}  max {e.max():.4f}")
