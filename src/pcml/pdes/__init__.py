"""pcml.pdes: data generators with verified closed-form or numerical solutions."""

from pcml.pdes.gpme import (
    PROBLEMS,
    Burgers,
    ConservationProblem,
    Diffusion,
    LinearAdvection,
    PorousMedium,
    Stefan,
    get_problem,
    stefan_constants,
)

__all__ = [
    "PROBLEMS",
    "Burgers",
    "ConservationProblem",
    "Diffusion",
    "LinearAdvection",
    "PorousMedium",
    "Stefan",
    "get_problem",
    "stefan_constants",
]
