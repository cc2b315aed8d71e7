"""Run one seed of a 2-D ``pcml boon study`` in its own process (the study's own config and run
directory, so that ``pcml boon study CASE --seeds 3 ... --doc`` afterwards resumes every seed,
verifies each directory and checkpoint, and writes the tables). Used to run seeds side by side
on the shared machine:

    OMP_NUM_THREADS=1 nice -n 5 python studies/boon2d_study/seed.py cavity 1 runs/boon-study/cavity
"""

from __future__ import annotations

import sys
from pathlib import Path

from pcml.experiments.boon.runner import run
from pcml.experiments.boon.study import study_config

case, seed, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
cfg = study_config(case, "quick", seed)
cmd = (
    f"pcml boon study {case} --seeds 3 --profile quick --out {out} --no-progress "
    f"--doc docs/results/boon2d.md  # seed {seed}"
)
run(cfg, out / f"seed{seed}", command=cmd, progress=False, figures=False)
