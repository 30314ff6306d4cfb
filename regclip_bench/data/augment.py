"""Batched image augmentation on the device: one affine resampling per batch, no per-sample loop.

`random_crop_flip` is torchvision's RandomCrop(size, padding=4) + RandomHorizontalFlip
(zero padding, integer shifts, exact).  `random_resized_crop_flip` is RandomResizedCrop
(area fraction in `scale`, aspect ratio in [3/4, 4/3]) + RandomHorizontalFlip (or, with
`flip=False`, RandomResizedCrop alone), with bilinear resampling; a crop too large for the image
is clamped to it.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.nn import functional as F


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def _flip_signs(n: int, generator: torch.Generator) -> Tensor:
    return torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)


def _resample(images: Tensor, theta: Tensor, size: int, mode: str, padding: str) -> Tensor:
    theta = theta.to(images.device, images.dtype)
    grid = F.affine_grid(theta, [len(images), images.shape[1], size, size], align_corners=False)
    return F.grid_sample(images, grid, mode=mode, padding_mode=padding, align_corners=False)


def random_crop_flip(images: Tensor, generator: torch.Generator, padding: int = 4) -> Tensor:
    n, _, h, w = images.shape
    shift_x = torch.randint(-padding, padding + 1, (n,), generator=generator) * (2.0 / w)
    shift_y = torch.randint(-padding, padding + 1, (n,), generator=generator) * (2.0 / h)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = _flip_signs(n, generator)
    theta[:, 0, 2] = shift_x
    theta[:, 1, 1] = 1.0
    theta[:, 1, 2] = shift_y
    return _resample(images, theta, h, mode="nearest", padding="zeros")


def random_resized_crop_flip(images: Tensor, generator: torch.Generator, size: int,
                             scale: tuple[float, float] = (0.08, 1.0), flip: bool = True) -> Tensor:
    n = len(images)
    area = _uniform(n, *scale, generator)
    log_ratio = _uniform(n, math.log(3 / 4), math.log(4 / 3), generator)
    width = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)   # fractions of the image
    height = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
    center_x = (1 - width) * _uniform(n, -1.0, 1.0, generator)        # normalised coordinates
    center_y = (1 - height) * _uniform(n, -1.0, 1.0, generator)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = width * (_flip_signs(n, generator) if flip else 1.0)
    theta[:, 0, 2] = center_x
    theta[:, 1, 1] = height
    theta[:, 1, 2] = center_y
    # The window lies inside the image; "border" only serves the half pixel at its edge,
    # which a resize clamps the same way.
    return _resample(images, theta, size, mode="bilinear", padding="border")


def resize(images: Tensor, size: int) -> Tensor:
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)
