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
from pcml.pdes.cavity import (
    THOM,
    WOODS,
    CavityTrajectory,
    WallFormula,
    simulate_cavity,
)
from pcml.pdes.cavity_datasets import build_cavity_dataset, cavity_boundary
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
from pcml.pdes.wave2d import build_wave2d_dataset, wave2d_energy, wave2d_solution

__all__ = [
    "PROBLEMS",
    "RESIDUALS",
    "THOM",
    "WOODS",
    "Burgers",
    "BurgersDirichletProblem",
    "BurgersPeriodicProblem",
    "CavityTrajectory",
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
    "WallFormula",
    "build_cavity_dataset",
    "build_wave2d_dataset",
    "burgers_dirichlet_cole_hopf",
    "burgers_dirichlet_mol",
    "burgers_periodic_cole_hopf",
    "burgers_periodic_etdrk4",
    "cavity_boundary",
    "evaluation_grid",
    "get_problem",
    "heat_neumann_flux",
    "heat_neumann_solution",
    "make_split",
    "pde_residual",
    "sample_periodic_grf",
    "sample_point_tasks",
    "simulate_cavity",
    "sine_series_coefficients",
    "split_size",
    "stefan_constants",
    "stokes_boundary_values",
    "stokes_solution",
    "task_split_from_pdedata",
    "to_pdedata",
    "wave2d_energy",
    "wave2d_solution",
]
