"""CIFAR-10 through torchvision's dataset class, Fashion-MNIST from its IDX files; held as uint8 tensors.

torchvision is imported only to read CIFAR-10 or to download Fashion-MNIST (0.2–0.4 s of its own beyond
torch._dynamo, which torch imports at a trial's first optimizer step anyway: docs/benchmarks.md)."""

from __future__ import annotations

import functools
import hashlib
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError
from .augment import random_crop_flip, random_resized_crop_flip, resize
from .base import TensorData, read_maybe_gzip

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)   # the values the paper's code (kuangliu/pytorch-cifar) uses


@functools.cache
def _cifar10_dataset() -> type:
    """torchvision's CIFAR10, with its MD5 checks optional (for re-packed or hand-made copies)."""
    from ..vision import torchvision

    class CIFAR10(torchvision.datasets.CIFAR10):
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

    return CIFAR10


def _missing(name: str, root: Path, where: str, archive: str) -> ConfigError:
    return ConfigError(
        f"{name}: dataset files not found under {root} (expected {where}); fetch them with "
        f"`--set data.download=true` (or data.download: true in the task file) while online, or unpack "
        f"{archive} there and point data.root at it")


def cifar10(spec, device: torch.device) -> TensorData:
    root = Path(spec.root).expanduser()
    try:
        splits = [_cifar10_dataset()(str(root), train=train, download=spec.download,
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
        elif generator is not None and spec.augment in ("resized_crop", "resized_crop_flip"):
            x = random_resized_crop_flip(x, generator, size, spec.crop_scale, flip=spec.augment.endswith("flip"))
        else:
            x = resize(x, size)
        return (x - mean) / std if spec.normalize else x

    input_shape, outputs = spec.shapes()
    return TensorData(train, train_y, test, test_y, input_shape=input_shape, num_outputs=outputs,
                      num_classes=outputs, transform=transform)


FASHION_MNIST = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte")
# SHA-256 of each file's decompressed IDX bytes (the data, whatever gzip made of them): Debian's
# dataset-fashion-mnist and the zalandoresearch/fashion-mnist release compress the same bytes differently.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"}
DEFAULT_ROOT = "~/.cache/regclip-bench/data"
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"   # apt-get install dataset-fashion-mnist


def _read_idx(folder: Path, name: str, verify: bool) -> np.ndarray:
    """An IDX file, gzipped or not, as a numpy array; its bytes checked against their SHA-256."""
    path = folder / f"{name}.gz" if (folder / f"{name}.gz").exists() else folder / name
    raw = read_maybe_gzip(path, "fashion_mnist")
    if verify and hashlib.sha256(raw).hexdigest() != FASHION_MNIST_SHA256[name]:
        raise ConfigError(f"fashion_mnist: {folder / name}: not the published file (SHA-256 differs); "
                          "set data.verify_checksums=false to use it anyway")
    # IDX: two zero bytes, type 0x08 (unsigned bytes), the number of dimensions, each size (big-endian),
    # then the data; Fashion-MNIST's images are n × 28 × 28, its labels n.
    ndim = raw[3] if len(raw) >= 4 else 0
    expected = 3 if "images" in name else 1
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim]) if len(raw) >= 4 + 4 * ndim else ()
    if (raw[:3] != b"\x00\x00\x08" or ndim != expected or len(shape) != ndim
            or (expected == 3 and shape[1:] != (28, 28)) or len(raw) != 4 + 4 * ndim + math.prod(shape)):
        raise ConfigError(f"fashion_mnist: {path}: not an IDX file of {'n × 28 × 28 images' if expected == 3 else 'n labels'} "
                          f"({len(raw):,} bytes; header {raw[:4 + 4 * max(ndim, 1)][:20].hex()})")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_folder(spec) -> Path | None:
    """The first folder with all four files: data.root, the default cache, Debian's package; in
    each, the files themselves or torchvision's FashionMNIST/raw/ layout."""
    for root in dict.fromkeys((spec.root, DEFAULT_ROOT, DEBIAN_FASHION_MNIST)):
        for folder in (Path(root).expanduser(), Path(root).expanduser() / "FashionMNIST" / "raw"):
            if all((folder / n).exists() or (folder / f"{n}.gz").exists() for n in FASHION_MNIST):
                return folder
    return None


def fashion_mnist(spec, device: torch.device) -> TensorData:
    """Fashion-MNIST as flat pixel vectors in [0, 1], the VAE's input and target."""
    folder = _fashion_folder(spec)
    if folder is None and spec.download:
        from ..vision import torchvision
        torchvision.datasets.FashionMNIST(str(Path(spec.root).expanduser()), download=True)
        folder = _fashion_folder(spec)
    if folder is None:
        raise ConfigError(
            f"fashion_mnist: the four files ({', '.join(f'{n}.gz' for n in FASHION_MNIST)}) are in none of "
            f"data.root ({spec.root}), {DEFAULT_ROOT} or {DEBIAN_FASHION_MNIST}: install Debian's "
            "dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or fetch them with "
            "--set data.download=true while online")
    images = {n: torch.from_numpy(_read_idx(folder, n, spec.verify_checksums).copy()) for n in FASHION_MNIST}
    for split in ("train", "t10k"):
        n_images, n_labels = len(images[f"{split}-images-idx3-ubyte"]), len(images[f"{split}-labels-idx1-ubyte"])
        if n_images != n_labels or n_images == 0:
            raise ConfigError(f"fashion_mnist: {folder}: {split}-images has {n_images:,} images and "
                              f"{split}-labels {n_labels:,} labels (the same number, at least one, expected)")
    train, train_y, test, test_y = (images[n].to(device) for n in FASHION_MNIST)

    def transform(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        return x.flatten(1).float() / 255.0

    input_shape, outputs = spec.shapes()
    return TensorData(train, train_y.long(), test, test_y.long(), input_shape=input_shape, num_outputs=outputs,
                      num_classes=10, transform=transform)
