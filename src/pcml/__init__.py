"""pcml: physics-constrained machine learning for scientific computing.

Two methods, exact and fast:

* **ProbConserv** (:mod:`pcml.constraints`): condition any Gaussian prediction N(μ, Σ) of a
  discretised solution on the integral form of a conservation law G u = b, so that the
  posterior mean conserves mass to round-off while the uncertainty is kept.
* **BOON** (:mod:`pcml.models`): Fourier neural operators whose kernel layers are corrected so
  that Dirichlet, Neumann and periodic boundary conditions hold by construction.

Import cost is kept low: heavy optional dependencies (gpytorch, matplotlib) are imported lazily.
"""

from ._version import __version__ as __version__

__all__ = ["__version__"]
