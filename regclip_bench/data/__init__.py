"""Data sources, each loaded onto the trial's device: `TensorData` (in memory) or a stream.

The image sources import torchvision (≈ 2 s) only when one is loaded: a Tune worker training a
teacher network does not pay for it.
"""

from __future__ import annotations

import importlib

import torch

from .base import Batches, TensorData
from .stream import stream_lsq
from .synthetic import digits, teacher
from .text import text

LOADERS = {"teacher": teacher, "digits": digits, "stream_lsq": stream_lsq, "text": text}
VISION = ("cifar10", "fashion_mnist")


def load_data(spec, device: torch.device) -> TensorData:
    if spec.source in VISION:
        return getattr(_vision(), spec.source)(spec, device)
    return LOADERS[spec.source](spec, device)


def _vision():
    return importlib.import_module(f"{__name__}.vision")


def __getattr__(name: str):
    if name == "vision":
        return _vision()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Batches", "TensorData", "load_data"]
