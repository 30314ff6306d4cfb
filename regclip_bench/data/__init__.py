"""Data sources, each loaded onto the trial's device: `TensorData` (in memory) or a stream."""

from __future__ import annotations

import torch

from .base import Batches, TensorData
from .stream import stream_lsq
from .synthetic import digits, teacher
from .text import text
from .vision import cifar10, fashion_mnist

LOADERS = {"teacher": teacher, "digits": digits, "stream_lsq": stream_lsq, "text": text, "cifar10": cifar10,
           "fashion_mnist": fashion_mnist}


def load_data(spec, device: torch.device) -> TensorData:
    return LOADERS[spec.source](spec, device)


__all__ = ["Batches", "TensorData", "load_data"]
