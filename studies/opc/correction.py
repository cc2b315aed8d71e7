"""Where does the ProbConserv update move a UQ operator's mean, relative to its error?

Per test function, with μ the mixture mean before the update, μ̃ after it, y the truth,
e = y − μ (the error) and Δ = μ̃ − μ (the correction, which the posterior covariance places
where the predictive variance is),

    ‖y − μ̃‖² = ‖e‖² − 2⟨Δ, e⟩ + ‖Δ‖²,

so the update lowers the error iff the correction points along the error enough:
ρ = ⟨Δ, e⟩ / (‖Δ‖‖e‖) > ‖Δ‖ / (2‖e‖). Reported per method and split, mean over the functions
then mean ± SE over seeds: ‖Δ‖/‖e‖ (how large the correction is against the error), ρ (how well
it is aimed) and the MSE change 1 − ‖y − μ̃‖²/‖e‖² (positive = better).

    OMP_NUM_THREADS=1 python studies/opc/correction.py runs/opc/advection-quick-s{0,1,2}

Reads finished ``pcml opc run`` directories (the models' checkpoints, the run's own config and
prediction seeds); post-hoc methods only.
"""

from __future__ import annotations

import math
import sys

from pcml.constraints.quadrature import quadrature_weights
from pcml.experiments.opc.anp_compare import load_trained
from pcml.experiments.opc.run import EVAL_SPLITS, _predict, _splits
from pcml.models.uq_operators import conserve_prediction

METHODS = ("ensemble", "diverse", "mcdropout", "meanvar")
rows: dict[tuple[str, str], dict[str, list[float]]] = {}
problem = ""
for run in sys.argv[1:]:
    cfg, _ = load_trained(run, METHODS[0])
    problem = cfg.problem
    data = _splits(cfg)
    g = quadrature_weights(data["test"].x)
    for method in METHODS:
        model = load_trained(run, method)[1]
        for k, split in enumerate(EVAL_SPLITS):
            sp = data[split]
            pred = _predict(model, sp.a, cfg.seed * 1000 + k)  # the run's own prediction seed
            post = conserve_prediction(pred, g, sp.b, joint=cfg.joint, noise_var=cfg.noise_var)
            mu, mu_pc = pred.mean.double(), post.mean.double()
            y = sp.u64.flatten(1).double()
            e, d = y - mu, mu_pc - mu
            ne, nd = e.norm(dim=1), d.norm(dim=1)
            r = rows.setdefault((method, split), {})
            r.setdefault("size", []).append(float((nd / ne).mean()))
            r.setdefault("rho", []).append(float(((d * e).sum(1) / (nd * ne)).mean()))
            gain = 1 - float(((y - mu_pc) ** 2).sum()) / float((e**2).sum())
            r.setdefault("gain", []).append(gain)


def ms(v: list[float]) -> str:
    m = sum(v) / len(v)
    se = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1) / len(v)) if len(v) > 1 else math.nan
    return f"{m:.3g} ± {se:.2g}"


print(f"{problem}, {len(sys.argv) - 1} runs: the update's correction Δ against the error e")
print("| method | split | ‖Δ‖/‖e‖ | ρ = cos(Δ, e) | MSE change 1 − ‖y − μ̃‖²/‖e‖² |")
print("|---|---|---|---|---|")
for (method, split), r in rows.items():
    print(f"| {method} | {split} | {ms(r['size'])} | {ms(r['rho'])} | {ms(r['gain'])} |")
