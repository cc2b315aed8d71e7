"""Tensors are created on the device they are asked for.

A CPU-only machine has no second device, so these checks use torch's ``meta`` device (tensors
with a shape and a dtype but no data), which stands in for an accelerator: a tensor left on the
CPU, or an index built on the CPU for a mask on another device, shows up as a wrong device or a
device-mismatch error. Functions that read values (finiteness checks, solves) cannot run there;
their device handling is listed as device-only in docs/testing.md.
"""

from __future__ import annotations

import torch

from pcml.constraints._checks import as_tensor
from pcml.constraints.boundary import (
    BoundaryConditions,
    Dirichlet,
    Neumann,
    Periodic,
    interior_mask,
)

META = torch.device("meta")


def test_as_tensor_moves_tensors_and_converts_arrays_onto_the_device_of_like() -> None:
    like = torch.empty(0, dtype=torch.float64, device=META)
    for value in (torch.ones(2), [1.0, 2.0], 3.0):
        t = as_tensor("x", value, like=like)
        assert t.device == META and t.shape == torch.as_tensor(value).shape
    cpu = torch.ones(2)
    assert as_tensor("x", cpu).device.type == "cpu" and as_tensor("x", cpu, like=cpu) is cpu


def test_interior_mask_is_built_on_the_requested_device() -> None:
    bcs = BoundaryConditions(
        {"x": (Dirichlet(), Neumann(2)), "y": (Periodic("closed"), Periodic("closed"))}
    )
    mask = interior_mask(bcs, ("x", "y"), (5, 4), device=META)
    assert mask.device == META and mask.shape == (5, 4) and mask.dtype == torch.bool
    # The same call on the CPU: the device changes nothing but where the mask lives.
    cpu = interior_mask(bcs, ("x", "y"), (5, 4))
    expected = torch.ones(5, 4, dtype=torch.bool)
    expected[[0, -1], :] = False
    expected[:, [0, -1]] = False  # both ends of the closed periodic axis are boundary nodes
    assert torch.equal(cpu, expected)
