"""The δ-GClip optimizer family, the baselines it is compared with, and the optimizer contract."""

from .base import Hyperparameter, OptimizerDiagnostics, OptimizerEntry
from .clip_sgd import ClipSGD
from .delta_gclip import (CLIPPED, FLOOR, REGIME_NAMES, UNCLIPPED, DeltaGClip, GClip, classify_regime,
                          delta_gclip_, delta_gclip_per_tensor_, global_grad_norm)
from .registry import OPTIMIZERS, lookup, make_optimizer, register

__all__ = [
    "CLIPPED", "FLOOR", "OPTIMIZERS", "REGIME_NAMES", "UNCLIPPED", "ClipSGD", "DeltaGClip", "GClip",
    "Hyperparameter", "OptimizerDiagnostics", "OptimizerEntry", "classify_regime", "delta_gclip_",
    "delta_gclip_per_tensor_", "global_grad_norm", "lookup", "make_optimizer", "register",
]
