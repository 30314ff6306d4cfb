"""Regression on the squared loss: mean squared error over all output elements."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import Lazy
from .base import Kind

if TYPE_CHECKING:
    from torch import Tensor, nn

torch = Lazy("torch")
F = Lazy("torch.nn.functional")


class Regression(Kind):
    name = "mse"
    metrics = ("test_loss",)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        out = model(x)
        if y.dtype == torch.int64:   # class labels: one-hot targets
            y = F.one_hot(y, out.shape[1]).to(out.dtype)
        return F.mse_loss(out, y)

    def batch_metrics(self, model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        return {"test_loss": self.loss(model, x, y) * len(x)}
