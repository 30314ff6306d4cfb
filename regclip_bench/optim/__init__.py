"""The δ-GClip optimizer family, the baselines it is compared with, and the optimizer contract.

Each name below is imported from its module on first use (PEP 562), so that `optim.registry` and
`optim.base` — all a task file or a store needs — come without torch's import."""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "base": ("CLIPPED", "FLOOR", "REGIME_NAMES", "UNCLIPPED", "Hyperparameter", "OptimizerDiagnostics",
             "OptimizerEntry"),
    "clip_sgd": ("ClipSGD",),
    "delta_gclip": ("DeltaGClip", "GClip", "classify_regime", "delta_gclip_", "delta_gclip_per_tensor_",
                    "global_grad_norm"),
    "registry": ("OPTIMIZERS", "lookup", "make_optimizer", "register"),
}
_WHERE = {name: module for module, names in _HOMES.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
