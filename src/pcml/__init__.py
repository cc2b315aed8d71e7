"""pcml: physics-constrained machine learning for scientific computing.

Two methods, exact and fast:

* **ProbConserv** (:mod:`pcml.constraints`): condition any Gaussian prediction N(μ, Σ) of a
  discretised solution on the integral form of a conservation law G u = b, so that the
  posterior mean conserves mass to round-off while the uncertainty is kept.
* **BOON** (:mod:`pcml.models`): Fourier neural operators whose kernel layers are corrected so
  that Dirichlet, Neumann and periodic boundary conditions hold by construction.

Import cost is kept low: heavy optional dependencies (gpytorch, matplotlib) are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__ as __version__

#: The small public surface, re-exported lazily so that ``import pcml`` (and ``pcml --help``)
#: does not pay for torch until a name is used.
_EXPORTS: dict[str, str] = {
    "conserve": "pcml.constraints",
    "quadrature_weights": "pcml.constraints",
    "project_mean": "pcml.constraints",
    "project_inequality": "pcml.constraints",
    "ConservedPosterior": "pcml.constraints",
    "BoundaryConditions": "pcml.constraints",
    "Dirichlet": "pcml.constraints",
    "Neumann": "pcml.constraints",
    "Periodic": "pcml.constraints",
    "FNO": "pcml.models",
    "BOON": "pcml.models",
    "AttentiveNeuralProcess": "pcml.models",
    "DeepEnsemble": "pcml.models",
    "ExactGP": "pcml.models",
    "MixturePrediction": "pcml.models",
    "PDEData": "pcml.data",
    "read_dataset": "pcml.data",
    "write_dataset": "pcml.data",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pcml' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
