"""Data sources, each loaded into a `TensorData` on the trial's device."""

from __future__ import annotations

import torch

from .base import Batches, TensorData
from .synthetic import digits, teacher
from .vision import cifar10, fashion_mnist

LOADERS = {"teacher": teacher, "digits": digits, "cifar10": cifar10, "fashion_mnist": fashion_mnist}


def load_data(spec, device: torch.device) -> TensorData:
    return LOADERS[spec.source](spec, device)


__all__ = ["Batches", "TensorData", "load_data"]
