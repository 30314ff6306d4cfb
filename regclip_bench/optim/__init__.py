"""The δ-GClip optimizer family and the baselines it is compared with."""

from .clip_sgd import ClipSGD
from .delta_gclip import (CLIPPED, FLOOR, REGIME_NAMES, UNCLIPPED, DeltaGClip, GClip,
                          classify_regime)
from .registry import OPTIMIZERS, OptimizerEntry, make_optimizer, optimizer_entry

__all__ = [
    "CLIPPED", "FLOOR", "OPTIMIZERS", "REGIME_NAMES", "UNCLIPPED", "ClipSGD", "DeltaGClip", "GClip",
    "OptimizerEntry", "classify_regime", "make_optimizer", "optimizer_entry",
]
