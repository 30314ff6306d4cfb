"""Small datasets written in the real on-disk formats that torchvision reads."""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def write_cifar10(root: Path, n_train_per_batch: int = 4, n_test: int = 6, seed: int = 0) -> dict:
    """cifar-10-batches-py/: five pickled training batches, a test batch and batches.meta."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    written = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else n_train_per_batch
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)   # rows: R plane, G plane, B plane
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"batch_label": name, "labels": labels, "data": data,
                         "filenames": [f"{i}.png" for i in range(n)]}, f, protocol=2)
        written[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                     "horse", "ship", "truck"], "num_vis": 3072}, f, protocol=2)
    return written


def _idx(path: Path, array: np.ndarray, gzipped: bool = False) -> None:
    magic = (0x08 << 8) | array.ndim   # 0x08: unsigned byte, then the number of dimensions
    raw = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    if gzipped:
        Path(f"{path}.gz").write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)


def write_fashion_mnist(root: Path, n_train: int = 10, n_test: int = 5, seed: int = 0, gzipped: bool = False) -> dict:
    """FashionMNIST/raw/: the four idx files (uncompressed, or .gz as published) in torchvision's layout."""
    rng = np.random.default_rng(seed)
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        _idx(raw / f"{split}-images-idx3-ubyte", images, gzipped)
        _idx(raw / f"{split}-labels-idx1-ubyte", labels, gzipped)
        out[split] = (images, labels)
    return out
