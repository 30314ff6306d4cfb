"""Fully connected networks: `depth` hidden layers of `width` units."""

from __future__ import annotations

import math

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "softplus": nn.Softplus}


class NTKLinear(nn.Linear):
    """NTK parameterisation: weights N(0, 1), scaled by 1/√fan_in in the forward pass; biases start at 0."""

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Scaling the output, not the weight: a batch is usually far smaller than the matrix.
        out = nn.functional.linear(x, self.weight) * (1.0 / math.sqrt(self.in_features))
        return out if self.bias is None else out + self.bias


class MLP(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, width: int, depth: int, activation: str = "relu",
                 parameterization: str = "standard") -> None:
        super().__init__()
        linear = NTKLinear if parameterization == "ntk" else nn.Linear
        dims = [in_dim] + [width] * depth
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(dims, dims[1:]):
            layers += [linear(fan_in, fan_out), ACTIVATIONS[activation]()]
        layers.append(linear(dims[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))
