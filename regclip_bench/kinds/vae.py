"""A variational autoencoder: the inputs are the targets; the loss is the negative ELBO as the
paper's code writes it, summed squared reconstruction error plus KL(q(z|x) ‖ N(0, I)), summed
over the batch."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .base import Kind


class VAE(Kind):
    name = "vae_elbo"
    metrics = ("test_loss", "test_elbo")
    families = ("vae",)

    def loss(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        reconstruction, mu, logvar = model(x)
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return F.mse_loss(reconstruction, x, reduction="sum") + kl

    def batch_metrics(self, model: nn.Module, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        loss = self.loss(model, x, y)
        return {"test_loss": loss, "test_elbo": -loss}
