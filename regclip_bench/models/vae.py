"""The paper's MLP-VAE: hidden 50, latent 50, LeakyReLU(0.2), sigmoid output.

`width` is the hidden size and `depth` the number of hidden layers in the encoder and in the
decoder: the paper's code has 2 (784→50→50 → μ, log σ² of 50; 50→50→50→784), 91,984 parameters.
"""

from __future__ import annotations

import torch
from torch import nn


def _hidden(in_dim: int, width: int, depth: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(in_dim if i == 0 else width, width), nn.LeakyReLU(0.2)]
    return layers


class MLPVAE(nn.Module):
    def __init__(self, in_dim: int = 784, width: int = 50, depth: int = 2, latent: int = 50) -> None:
        super().__init__()
        self.encoder = nn.Sequential(*_hidden(in_dim, width, depth))
        self.mu = nn.Linear(width, latent)
        self.logvar = nn.Linear(width, latent)
        self.decoder = nn.Sequential(*_hidden(latent, width, depth), nn.Linear(width, in_dim),
                                     nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(reconstruction, mean, log-variance); the latent is sampled by reparameterisation."""
        h = self.encoder(x.flatten(1))
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar
