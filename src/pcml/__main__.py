"""``python -m pcml``: the ``pcml`` command line, also under ``torchrun -m pcml``.

``torchrun --nproc_per_node=2 -m pcml boon run heat-neumann --out runs/h`` starts two ranks of
the same command; training is data parallel and only rank 0 logs and writes (README,
"Several processes or GPUs").
"""

from __future__ import annotations

from pcml.cli import main

if __name__ == "__main__":
    main(prog_name="pcml")
