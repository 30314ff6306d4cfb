"""The δ-GClip optimizer family and the baselines it is compared with."""

from .clip_sgd import ClipSGD
from .delta_gclip import (CLIPPED, FLOOR, REGIME_NAMES, UNCLIPPED, DeltaGClip, GClip, classify_regime,
                          delta_gclip_, delta_gclip_per_tensor_, global_grad_norm)
from .base import OptimizerDiagnostics
from .registry import OPTIMIZERS, OptimizerEntry, make_optimizer, optimizer_entry

__all__ = [
    "CLIPPED", "FLOOR", "OPTIMIZERS", "REGIME_NAMES", "UNCLIPPED", "ClipSGD", "DeltaGClip", "GClip",
    "OptimizerDiagnostics", "OptimizerEntry", "classify_regime", "delta_gclip_", "delta_gclip_per_tensor_",
    "global_grad_norm", "make_optimizer", "optimizer_entry",
]
