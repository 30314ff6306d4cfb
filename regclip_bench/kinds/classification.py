"""Classification on the cross-entropy: test loss and accuracy."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import Lazy
from .base import Kind

if TYPE_CHECKING:
    from torch import Tensor, nn

F = Lazy("torch.nn.functional")


class Classification(Kind):
    name = "cross_entropy"
    metrics = ("test_loss", "test_accuracy")

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(model(x), y)

    def batch_metrics(self, model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        out = model(x)
        return {"test_loss": F.cross_entropy(out, y, reduction="sum"),
                "test_accuracy": (out.argmax(1) == y).sum().to(out.dtype)}
