"""Random data of Fashion-MNIST's size, for timing the VAE benchmarks where the dataset is not on disk: a
device machine reaches no network, and the real files (31 MB) do not fit beside the repository's tracked
results in what travels to one.  The same shapes run the same kernels, so steps per second and epoch times
hold; final losses are of noise, not the paper's — each benchmark says which data it ran on."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def fashion_overrides(folder: str | None) -> dict[str, Any]:
    """The task overrides that train on random 60,000 + 10,000 images written once under `folder`
    (tests/dataset_files.py's writer, in the real IDX layout); none when `folder` is None."""
    if folder is None:
        return {}
    root = Path(folder)
    if not (root / "FashionMNIST" / "raw").exists():
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from dataset_files import write_fashion_mnist
        write_fashion_mnist(root, n_train=60_000, n_test=10_000)
    return {"data.root": str(root), "data.verify_checksums": False}


def data_line(folder: str | None) -> str:
    return (f"data: random images of Fashion-MNIST's size ({folder}): timings hold, final losses are of noise"
            if folder else "data: Fashion-MNIST")
