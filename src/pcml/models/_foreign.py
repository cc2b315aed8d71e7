"""State dicts of pcml modules that wrap a foreign operator (neuraloperator's FNO, …).

neuraloperator's ``BaseModel.state_dict(destination, prefix)`` writes its constructor arguments
under a top-level ``"_metadata"`` key of the *shared* dict, whatever ``prefix`` it was given, and
warns when that key is already there. Inside a pcml wrapper (BOON, a UQ operator's members) this
breaks three things a user relies on: two wrapped FNOs warn (an error under ``-W error``); the
arguments hold functions (``non_linearity=F.gelu``), so the checkpoint no longer loads with
``torch.load(weights_only=True)``; and the key, having no prefix, is an unexpected key for the
wrapper's strict ``load_state_dict``. The wrapper's state dict holds tensors only: its post hook
removes that key once the wrapped operator has written it (the operator's own version check
needs the operator's own ``state_dict``/``load_state_dict``, which are unchanged).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

__all__ = ["tensors_only_state_dict"]

_FOREIGN_KEY = "_metadata"


def tensors_only_state_dict(module: nn.Module) -> None:
    """Register on ``module`` the post hook that drops a foreign operator's ``_metadata``."""
    module.register_state_dict_post_hook(_drop_foreign_metadata)


def _drop_foreign_metadata(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: dict[str, Any]
) -> None:
    value = state_dict.get(_FOREIGN_KEY)
    if value is not None and not isinstance(value, Tensor):
        del state_dict[_FOREIGN_KEY]
