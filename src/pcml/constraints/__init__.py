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

# boundary conditions and finite-difference stencils (BOON)
from pcml.constraints.boundary import (
    CORNER_RULE,
    BoundaryConditions,
    Dirichlet,
    Neumann,
    Periodic,
    apply_boundary_conditions,
)
from pcml.constraints.stencils import OneSidedStencil, StencilWeights, fornberg_weights

__all__ += [
    "CORNER_RULE",
    "BoundaryConditions",
    "Dirichlet",
    "Neumann",
    "OneSidedStencil",
    "Periodic",
    "StencilWeights",
    "apply_boundary_conditions",
    "fornberg_weights",
]
