"""pcml.metrics"""

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
    "conservation_error",
    "crps_gaussian",
    "crps_quantile",
    "gaussian_log_likelihood",
    "mse",
    "shock_position",
]
