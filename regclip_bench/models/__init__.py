"""Model families, each with `width` and `depth` knobs, built from a task's model spec."""

from __future__ import annotations

import math

from torch import nn

from .gpt import CharGPT
from .mlp import MLP
from .vae import MLPVAE
from .vit import ViT


def build_model(spec, input_shape: tuple[int, ...], num_outputs: int) -> nn.Module:
    """The network for `spec` (a model spec of `regclip_bench.spec`) on inputs of `input_shape`."""
    if spec.family == "mlp":
        return MLP(math.prod(input_shape), num_outputs, spec.width, spec.depth, spec.activation, spec.parameterization)
    if spec.family == "resnet":
        from .resnet import CifarResNet   # imports torchvision (≈ 2 s): only when a ResNet is built
        return CifarResNet(spec.width, spec.depth, num_outputs, in_channels=input_shape[0])
    if spec.family == "vae":
        return MLPVAE(math.prod(input_shape), spec.width, spec.depth, spec.latent)
    if spec.family == "vit":
        return ViT(input_shape[-1], num_outputs, spec.width, spec.depth, spec.heads, spec.patch,
                   spec.mlp_ratio, in_channels=input_shape[0], pos_embed_size=spec.pos_embed_size)
    if spec.family == "gpt":
        return CharGPT(num_outputs, input_shape[0], spec.width, spec.depth, spec.heads)
    if spec.family == "linear":
        model = nn.Linear(math.prod(input_shape), num_outputs, bias=False)
        nn.init.zeros_(model.weight)   # w₀ = 0, as in the streaming least-squares literature
        return model
    raise ValueError(f"unknown model family {spec.family!r}")


def __getattr__(name: str):
    if name == "CifarResNet":
        from .resnet import CifarResNet
        return CifarResNet
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MLP", "MLPVAE", "CharGPT", "CifarResNet", "ViT", "build_model"]
