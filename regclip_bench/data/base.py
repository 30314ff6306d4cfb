"""In-memory datasets: tensors on the trial's device, batched by indexing."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from ..errors import ConfigError

# (raw batch, generator) → model-ready batch; `generator` is None at evaluation.
Transform = Callable[[Tensor, "torch.Generator | None"], Tensor]


def upload(tensor: Tensor, device: torch.device, dtype: torch.dtype | None = None) -> Tensor:
    """A host tensor made per step onto the device without a host–device sync (an H2D copy from
    pageable memory returns once the source is staged, so the host tensor may be freed)."""
    return tensor.to(device, dtype, non_blocking=True)


@dataclass
class TensorData:
    """Train and test splits as tensors on one device.

    `x` may be stored compactly (uint8 images); `transform` turns a batch of it into the
    model's input (augmenting it when given a generator).  `labels` are class indices
    for classification data, None for regression.
    """

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    input_shape: tuple[int, ...]
    num_outputs: int
    num_classes: int | None = None
    transform: Transform | None = None

    @property
    def n_train(self) -> int:
        return len(self.train_x)

    def inputs(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return x if self.transform is None else self.transform(x, generator)

    def probe(self) -> tuple[Tensor, Tensor]:
        """A fixed training sample (the first 1,024 examples, not augmented): the whole training set
        of a full-batch task."""
        return self.inputs(self.train_x[:1024]), self.train_y[:1024]

    def batcher(self, batch_size: int | None, generator: torch.Generator, device: torch.device) -> Batches:
        return Batches(self.n_train, batch_size, generator, device)

    def batch(self, index: Tensor | None, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """The training batch at `index` (None: all of it), model-ready, and its targets."""
        if index is None:
            return self.inputs(self.train_x, generator), self.train_y
        return self.inputs(self.train_x[index], generator), self.train_y[index]


class Batches:
    """Minibatch indices over `n` examples, reshuffled each epoch from a seeded generator.

    With `batch_size=None` (full batch) every step sees all examples in order: gradient
    descent, the theorem's setting.  The last batch of an epoch may be short.
    """

    def __init__(self, n: int, batch_size: int | None, generator: torch.Generator, device: torch.device):
        self.n, self.generator, self.device = n, generator, device
        self.batch_size = n if batch_size is None else min(batch_size, n)
        self.steps_per_epoch = -(-n // self.batch_size)
        self._order: Tensor | None = None
        self._position = 0

    def state_dict(self) -> dict:
        return {"order": self._order, "position": self._position}

    def load_state_dict(self, state: dict) -> None:
        self._order, self._position = state["order"], state["position"]

    def next(self) -> Tensor | None:
        """Indices of the next batch; None for full batch (use the whole split)."""
        if self.batch_size == self.n:
            return None
        if self._order is None or self._position >= self.n:
            self._order = upload(torch.randperm(self.n, generator=self.generator), self.device)
            self._position = 0
        batch = self._order[self._position:self._position + self.batch_size]
        self._position += self.batch_size
        return batch


class StreamBatches:
    """The batches of a stream: nothing to index, nothing to shuffle, no epochs, and no state of their own
    (what a stream draws comes from the trial's generator, whose state every checkpoint holds)."""
    steps_per_epoch = 1

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def next(self) -> int:
        return self.batch_size

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def read_maybe_gzip(path: Path, what: str) -> bytes:
    """A file's bytes, decompressed where its name ends in .gz or .dz (dictzip is gzip); a damaged or
    unreadable file is a one-line error naming it."""
    try:
        return gzip.open(path).read() if path.suffix in (".gz", ".dz") else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:   # BadGzipFile is an OSError
        reason = str(exc) or type(exc).__name__
        raise ConfigError(f"{what}: {path}: cannot be read ({reason})") from None
