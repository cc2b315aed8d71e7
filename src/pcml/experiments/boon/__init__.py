"""The BOON experiments: cases as data, one run loop for 1-D and 2-D, seed studies.

Modules (imports point one way, left to right; nothing imports back):

* :mod:`~pcml.experiments.boon.cases2d` — constants of the 2-D cases (selection notes);
* :mod:`~pcml.experiments.boon.cases` — the case registry (:class:`BoonCase`, boundary parameters
  with training and out-of-distribution ranges);
* :mod:`~pcml.experiments.boon.config` — :class:`BoonConfig`, the profiles, TOML and overrides;
* :mod:`~pcml.experiments.boon.data2d` — 2-D datasets → tensors, walls, lift, curl;
* :mod:`~pcml.experiments.boon.metrics` — relative L2, near-boundary and boundary errors;
* :mod:`~pcml.experiments.boon.models` — ``fno``, ``fno_bc``, ``fno_soft``, BOON variants, losses;
* :mod:`~pcml.experiments.boon.tables`, :mod:`~pcml.experiments.boon.plots`,
  :mod:`~pcml.experiments.boon.plots2d` — outputs of one run;
* :mod:`~pcml.experiments.boon.layouts` — 1-D and 2-D data → tensors, models, metrics, outputs;
* :mod:`~pcml.experiments.boon.runner` — :func:`run`, the one run loop;
* :mod:`~pcml.experiments.boon.study` — several seeds, mean ± SE, paired differences.

This package imports nothing heavy itself (``pcml --help`` stays fast): ``run`` and
``run_study`` are loaded on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BoundarySurrogate", "run", "run_study"]


def __getattr__(name: str) -> Any:
    if name == "BoundarySurrogate":  # the name checkpoints record (see models.py)
        from pcml.experiments.boon.models import BoundarySurrogate

        return BoundarySurrogate
    if name == "run":
        from pcml.experiments.boon.runner import run

        return run
    if name == "run_study":
        from pcml.experiments.boon.study import run_study

        return run_study
    raise AttributeError(f"module 'pcml.experiments.boon' has no attribute {name!r}")
