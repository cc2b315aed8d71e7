"""pcml.constraints: pure, model-agnostic constraint math (torch).

Conservation (ProbConserv update, exact posterior samples), quadrature rules, the HardC projection,
the inequality post-step and mixture moments.
"""

from pcml.constraints.conservation import ConservedPosterior, conserve
from pcml.constraints.hardc import project_mean
from pcml.constraints.inequality import project_inequality
from pcml.constraints.mixture import mixture_moments, sample_mixture
from pcml.constraints.quadrature import QuadratureRule, quadrature_weights

__all__ = [
    "ConservedPosterior",
    "QuadratureRule",
    "conserve",
    "mixture_moments",
    "project_inequality",
    "project_mean",
    "quadrature_weights",
    "sample_mixture",
]
