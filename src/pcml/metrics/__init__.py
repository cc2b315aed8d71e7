"""pcml.metrics: field metrics (relative L2, boundary error) and probabilistic metrics."""

# field metrics (neural operators, BOON)
from pcml.metrics.fields import boundary_error, near_boundary_relative_l2, relative_l2

# probabilistic metrics (ProbConserv)
from pcml.metrics.probabilistic import (
    conservation_error,
    crps_gaussian,
    crps_quantile,
    gaussian_log_likelihood,
    mse,
    shock_position,
)

__all__ = [
    "boundary_error",
    "conservation_error",
    "crps_gaussian",
    "crps_quantile",
    "gaussian_log_likelihood",
    "mse",
    "near_boundary_relative_l2",
    "relative_l2",
    "shock_position",
]
