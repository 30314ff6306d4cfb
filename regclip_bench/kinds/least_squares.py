"""Least squares on a stream (data/stream.py): trained on the batch's mean squared error, measured by
the exact excess risk (w − w*)ᵀΣ(w − w*) of the weights — not an estimate from samples, which
heavy-tailed noise would swamp."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import Lazy
from .base import Kind

if TYPE_CHECKING:
    from torch import Tensor, nn

F = Lazy("torch.nn.functional")


class LeastSquares(Kind):
    name = "least_squares"
    metrics = ("excess_risk",)
    sources = ("stream_lsq",)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(model(x), y)

    def evaluate(self, model: nn.Module, data, chunk: int = 1024) -> dict[str, float]:
        return {"excess_risk": data.excess_risk(model)}
