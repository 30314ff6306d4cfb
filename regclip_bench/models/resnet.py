"""CIFAR ResNets in torchvision's family: its BasicBlock, with a 3×3 stem and no max-pool, the
network of the paper's code (kuangliu/pytorch-cifar's ResNet18: the same layers and parameters).

`width` is the number of base channels (64 in the standard network; the stages have
width, 2·width, 4·width, 8·width); `depth` is 10, 18 or 34.
"""

from __future__ import annotations

import torch
from torch import nn

from ..vision import torchvision

BasicBlock = torchvision.models.resnet.BasicBlock
BLOCKS_PER_STAGE = {10: (1, 1, 1, 1), 18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}


class CifarResNet(nn.Module):
    def __init__(self, width: int = 64, depth: int = 18, num_classes: int = 10,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(inplace=True))
        stages, inplanes = [], width
        for i, blocks in enumerate(BLOCKS_PER_STAGE[depth]):
            planes, stride = width * 2 ** i, 1 if i == 0 else 2
            for b in range(blocks):
                downsample = None
                if b == 0 and (stride != 1 or inplanes != planes):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                        nn.BatchNorm2d(planes))
                stages.append(BasicBlock(inplanes, planes, stride if b == 0 else 1, downsample))
                inplanes = planes
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        # PyTorch's default initialisation, as the paper's code (kuangliu's CIFAR ResNet) keeps it.

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))
