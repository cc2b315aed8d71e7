"""Run one seed of a ``pcml boon study`` (2-D, or a 1-D case) in its own process: the study's
own config and run directory, so that ``pcml boon study CASE --seeds 3 ... --collect --doc``
afterwards checks every seed directory and checkpoint and writes the tables (without
``--collect`` it resumes every seed and re-evaluates). Used to run seeds side by side on the
shared machine:

    OMP_NUM_THREADS=1 nice -n 5 python studies/boon2d_study/seed.py cavity 1 runs/boon-study/cavity
"""

from __future__ import annotations

import sys
from pathlib import Path

from pcml.experiments.boon.runner import run
from pcml.experiments.boon.study import study_config

case, seed, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
cfg = study_config(case, "quick", seed)
doc = "docs/results/boon2d.md" if case in ("cavity", "wave2d") else "docs/results/boon.md"
cmd = (
    f"pcml boon study {case} --seeds 3 --profile quick --out {out} --no-progress "
    f"--doc {doc}  # seed {seed}"
)
run(cfg, out / f"seed{seed}", command=cmd, progress=False, figures=False)
