"""A variational autoencoder, as the paper's code trains it: the inputs are the targets; the loss
is the summed squared reconstruction error plus KL(q(z|x) ‖ N(0, I)), summed over the batch.  It
is not an ELBO in nats (that would need a likelihood's scale and constants), so the metric is
named for what it is: `test_loss`, that sum per test example."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import Lazy
from .base import Kind

if TYPE_CHECKING:
    from torch import Tensor, nn

torch = Lazy("torch")
F = Lazy("torch.nn.functional")


class VAE(Kind):
    name = "vae"
    metrics = ("test_loss",)
    families = ("vae",)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        reconstruction, mu, logvar = model(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return F.mse_loss(reconstruction, x, reduction="sum") + kl

    def batch_metrics(self, model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        return {"test_loss": self.loss(model, x, y)}
