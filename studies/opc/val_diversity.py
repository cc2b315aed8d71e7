"""Score finished `pcml opc run ... --methods diverse` runs on their VALIDATION split (issue 16).

Usage: OMP_NUM_THREADS=1 python studies/opc/val_diversity.py RUN_DIR [RUN_DIR ...]

For each run: rebuild DiverseNO from its best checkpoint (checked against the run's config),
predict the validation functions (the training distribution, never the test splits), and print
before / after the ProbConserv update: MSE, NLL, CRPS, 95 % coverage and width, RMSCE, n-MeRCI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from pcml.constraints.quadrature import quadrature_weights
from pcml.experiments.opc.anp_compare import load_trained
from pcml.experiments.opc.metrics import operator_metrics
from pcml.models.uq_operators import conserve_prediction
from pcml.pdes.operator_tasks import make_operator_split

KEYS = ("mse", "nll", "crps", "coverage", "piw", "rmsce", "nmerci")


def main(runs: list[str]) -> None:
    print("| λ | run | " + " | ".join(f"{k} before → after" for k in KEYS) + " |")
    print("|---|---|" + "---|" * len(KEYS))
    for r in runs:
        cfg, model = load_trained(Path(r), "diverse")
        sp = make_operator_split(cfg.task(), "valid", cfg.data.n_valid, cfg.data.seed)
        g = quadrature_weights(sp.x)
        with torch.no_grad():
            pred = model.predict(sp.a, torch.Generator().manual_seed(cfg.seed * 1000 + 7))
        post = conserve_prediction(pred, g, sp.b)
        y = sp.u64.flatten(1)
        before = operator_metrics(pred.mean.double(), pred.variance.double(), y, g, sp.b)
        after = operator_metrics(post.mean, post.variance, y, g, sp.b)
        cells = [f"{before[k]:.3g} → {after[k]:.3g}" for k in KEYS]
        print(f"| {cfg.uq.diversity_weight:g} | `{r}` | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
