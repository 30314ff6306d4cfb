"""Training losses and evaluation metrics, one entry per task `loss`."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def mse(output: Tensor, target: Tensor) -> Tensor:
    """Mean squared error over all elements (class labels become one-hot targets)."""
    if target.dtype == torch.int64:
        target = F.one_hot(target, output.shape[1]).to(output.dtype)
    return F.mse_loss(output, target)


def cross_entropy(output: Tensor, target: Tensor) -> Tensor:
    return F.cross_entropy(output, target)


def vae_elbo(output: tuple[Tensor, Tensor, Tensor], target: Tensor) -> Tensor:
    """Negative ELBO: squared reconstruction error plus KL(q(z|x) ‖ N(0, I)), summed over the batch."""
    reconstruction, mu, logvar = output
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return F.mse_loss(reconstruction, target, reduction="sum") + kl


LOSSES = {"mse": mse, "cross_entropy": cross_entropy, "vae_elbo": vae_elbo}
