"""Next-character prediction: cross-entropy of the logits over the vocabulary at every position, in
nats per character; `test_loss` on fixed validation windows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import Lazy
from .base import Kind

if TYPE_CHECKING:
    from torch import Tensor, nn

F = Lazy("torch.nn.functional")


class NextCharacter(Kind):
    name = "next_char"
    metrics = ("test_loss",)
    sources = ("text",)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        logits = model(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def batch_metrics(self, model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        return {"test_loss": self.loss(model, x, y) * len(x)}   # mean over the window's characters
