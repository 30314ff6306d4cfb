"""CIFAR-10 and Fashion-MNIST through torchvision's dataset classes, held as uint8 tensors."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from ..errors import ConfigError
from ..vision import torchvision
from .augment import random_crop_flip, random_resized_crop_flip, resize
from .base import TensorData

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


class _CIFAR10(torchvision.datasets.CIFAR10):
    """torchvision's CIFAR10, with its MD5 checks optional (for re-packed or hand-made copies)."""

    def __init__(self, *args, verify_checksums: bool = True, **kwargs) -> None:
        self._verify = verify_checksums
        super().__init__(*args, **kwargs)

    def _check_integrity(self) -> bool:
        if self._verify:
            return super()._check_integrity()
        folder = Path(self.root) / self.base_folder
        names = [name for name, _ in self.train_list + self.test_list] + [self.meta["filename"]]
        return all((folder / name).is_file() for name in names)

    def _load_meta(self) -> None:
        if self._verify:
            return super()._load_meta()
        path = Path(self.root) / self.base_folder / self.meta["filename"]
        with open(path, "rb") as file:
            self.classes = pickle.load(file, encoding="latin1")[self.meta["key"]]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


def _missing(name: str, root: Path, where: str, archive: str) -> ConfigError:
    return ConfigError(
        f"{name}: dataset files not found under {root} (expected {where}); fetch them with "
        f"`--set download=true` (or data.download: true) while online, or unpack {archive} there "
        f"and point data.root at it")


def cifar10(spec, device: torch.device) -> TensorData:
    root = Path(spec.root).expanduser()
    try:
        splits = [_CIFAR10(str(root), train=train, download=spec.download,
                           verify_checksums=spec.verify_checksums) for train in (True, False)]
    except RuntimeError as exc:
        if "not found" not in str(exc) and "corrupted" not in str(exc):
            raise
        raise _missing("cifar10", root, "cifar-10-batches-py/data_batch_1…5, test_batch",
                       "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz") from None
    train, test = (torch.from_numpy(s.data).permute(0, 3, 1, 2).contiguous().to(device) for s in splits)
    train_y, test_y = (torch.tensor(s.targets, dtype=torch.int64, device=device) for s in splits)
    mean = torch.tensor(CIFAR10_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, device=device).view(1, 3, 1, 1)
    size = spec.image_size

    def transform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        x = x.float() / 255.0
        if generator is not None and spec.augment == "crop_flip":
            x = resize(random_crop_flip(x, generator), size)
        elif generator is not None and spec.augment == "resized_crop_flip":
            x = random_resized_crop_flip(x, generator, size, spec.crop_scale)
        else:
            x = resize(x, size)
        return (x - mean) / std

    return TensorData(train, train_y, test, test_y, input_shape=(3, size, size), num_outputs=10,
                      num_classes=10, transform=transform)


def fashion_mnist(spec, device: torch.device) -> TensorData:
    """Fashion-MNIST as flat pixel vectors in [0, 1], the VAE's input and target."""
    root = Path(spec.root).expanduser()
    try:
        splits = [torchvision.datasets.FashionMNIST(str(root), train=train, download=spec.download)
                  for train in (True, False)]
    except RuntimeError as exc:
        if "not found" not in str(exc):
            raise
        raise _missing("fashion_mnist", root,
                       "FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte",
                       "the four files of https://github.com/zalandoresearch/fashion-mnist") from None
    train, test = (s.data.to(device) for s in splits)
    train_y, test_y = (s.targets.to(device) for s in splits)

    def transform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return x.flatten(1).float() / 255.0

    return TensorData(train, train_y, test, test_y, input_shape=(784,), num_outputs=784,
                      num_classes=10, transform=transform)
