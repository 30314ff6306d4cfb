"""A Vision Transformer in plain torch.nn, as the paper's code builds it (timm/DINO's ViT): patch
embedding, class token, pre-norm blocks (LayerNorm ε = 1e-6, biased qkv), truncated-normal
(std 0.02) initialisation of the embeddings and every linear layer.

`width` is the embedding dimension and `depth` the number of blocks (tiny: 192 wide, 12 deep,
3 heads; small: 384, 12, 6; patch 16).  `pos_embed_size`: the image size the position embedding is
made for; on other inputs its grid is interpolated bicubically, as the paper's code does (224 px
embedding, 64 px CIFAR images).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class Block(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, image_size: int, num_classes: int, width: int = 192, depth: int = 12,
                 heads: int = 3, patch: int = 16, mlp_ratio: float = 4.0, in_channels: int = 3,
                 pos_embed_size: int | None = None) -> None:
        super().__init__()
        for size in (image_size, pos_embed_size or image_size):
            if size % patch:
                raise ValueError(f"image size {size} is not divisible by patch {patch}")
        self.patch_embed = nn.Conv2d(in_channels, width, kernel_size=patch, stride=patch)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.zeros(1, ((pos_embed_size or image_size) // patch) ** 2 + 1, width))
        self.blocks = nn.Sequential(*(Block(width, heads, mlp_ratio) for _ in range(depth)))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.head = nn.Linear(width, num_classes)
        for tensor in (self.pos_embed, self.cls_token):
            nn.init.trunc_normal_(tensor, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.MultiheadAttention):   # its qkv projection, a Linear in timm
                nn.init.trunc_normal_(module.in_proj_weight, std=0.02)
                nn.init.zeros_(module.in_proj_bias)

    def _position(self, patches: int) -> torch.Tensor:
        """The position embedding for `patches` patches (DINO's interpolation: bicubic, +0.1)."""
        n = self.pos_embed.shape[1] - 1
        if patches == n:
            return self.pos_embed
        side, grid = math.isqrt(n), math.isqrt(patches)
        table = self.pos_embed[:, 1:].reshape(1, side, side, -1).permute(0, 3, 1, 2)
        scale = (grid + 0.1) / side
        table = F.interpolate(table, scale_factor=(scale, scale), mode="bicubic")
        return torch.cat([self.pos_embed[:, :1], table.permute(0, 2, 3, 1).reshape(1, patches, -1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(len(x), -1, -1), tokens], dim=1)
        tokens = tokens + self._position(tokens.shape[1] - 1)
        return self.head(self.norm(self.blocks(tokens))[:, 0])
