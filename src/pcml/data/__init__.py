"""pcml.data: the HDF5 dataset store (layout of The Well) and lazy torch Dataset views.

>>> import numpy as np
>>> from pcml.data import PDEData, BoundaryData
>>> u = np.zeros((2, 3, 8), dtype=np.float32)                     # (n_traj, n_steps, n_x)
>>> data = PDEData("demo", {"u": u}, time=np.linspace(0, 1, 3), coords={"x": np.linspace(0, 1, 8)},
...                boundary=(BoundaryData("x", "lower", "dirichlet", np.zeros((1, 3))),
...                          BoundaryData("x", "upper", "neumann", np.zeros((1, 3)))))
>>> data.schema.bc
(('x', 'lower', 'dirichlet'), ('x', 'upper', 'neumann'))
"""

from .schema import BoundaryData as BoundaryData
from .schema import ConservedData as ConservedData
from .schema import DatasetSchema as DatasetSchema
from .schema import PDEData as PDEData
from .schema import PointData as PointData
from .store import cached_dataset as cached_dataset
from .store import read_dataset as read_dataset
from .store import read_schema as read_schema
from .store import verify_dataset as verify_dataset
from .store import write_dataset as write_dataset
from .views import H5FieldDataset as H5FieldDataset
from .views import H5PointDataset as H5PointDataset

__all__ = [
    "BoundaryData",
    "ConservedData",
    "DatasetSchema",
    "H5FieldDataset",
    "H5PointDataset",
    "PDEData",
    "PointData",
    "cached_dataset",
    "read_dataset",
    "read_schema",
    "verify_dataset",
    "write_dataset",
]
