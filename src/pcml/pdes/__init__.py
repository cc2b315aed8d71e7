"""pcml.pdes: data generators with verified closed-form or numerical solutions."""

from pcml.pdes.burgers_dirichlet import (
    BurgersDirichletProblem,
    burgers_dirichlet_cole_hopf,
    burgers_dirichlet_mol,
)
from pcml.pdes.burgers_periodic import (
    BurgersPeriodicProblem,
    burgers_periodic_cole_hopf,
    burgers_periodic_etdrk4,
)
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
from pcml.pdes.gpme_residuals import RESIDUALS, ResidualSpec, pde_residual
from pcml.pdes.grf import GRFSpectrum, sample_periodic_grf, sine_series_coefficients
from pcml.pdes.heat_neumann import HeatNeumannProblem, heat_neumann_flux, heat_neumann_solution
from pcml.pdes.stokes import StokesProblem, stokes_boundary_values, stokes_solution
from pcml.pdes.tasks import (
    TaskSplit,
    evaluation_grid,
    make_split,
    sample_point_tasks,
    split_size,
    task_split_from_pdedata,
    to_pdedata,
)

__all__ = [
    "PROBLEMS",
    "RESIDUALS",
    "Burgers",
    "BurgersDirichletProblem",
    "BurgersPeriodicProblem",
    "ConservationProblem",
    "Diffusion",
    "GRFSpectrum",
    "HeatNeumannProblem",
    "LinearAdvection",
    "PorousMedium",
    "ResidualSpec",
    "Stefan",
    "StokesProblem",
    "TaskSplit",
    "burgers_dirichlet_cole_hopf",
    "burgers_dirichlet_mol",
    "burgers_periodic_cole_hopf",
    "burgers_periodic_etdrk4",
    "evaluation_grid",
    "get_problem",
    "heat_neumann_flux",
    "heat_neumann_solution",
    "make_split",
    "pde_residual",
    "sample_periodic_grf",
    "sample_point_tasks",
    "sine_series_coefficients",
    "split_size",
    "stefan_constants",
    "stokes_boundary_values",
    "stokes_solution",
    "task_split_from_pdedata",
    "to_pdedata",
]
