"""A character-level corpus from a file a system package installs: the text's characters as integer
ids, split into a training and a validation part by position (nanoGPT's shakespeare_char recipe).

The default is the Jargon File 4.4.7 (public domain, 1.38 M characters), as Debian's `dict-jargon`
installs it (/usr/share/dictd/jargon.dict.dz, dictzip: gzip-compatible); its SHA-256, of the text, is
checked and is part of the workload, so it is in every result's provenance.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import torch
from torch import Tensor

from ..errors import ConfigError
from .base import StreamBatches, read_maybe_gzip, upload


class WindowBatches(StreamBatches):
    """Random windows of the training text, their starts drawn from the trial's generator."""

    def __init__(self, n: int, context: int, batch_size: int, generator: torch.Generator) -> None:
        self.high, self.batch_size, self.generator = n - context - 1, batch_size, generator

    def next(self) -> Tensor:
        return torch.randint(0, self.high, (self.batch_size,), generator=self.generator)


class TextData:
    num_classes = None

    def __init__(self, spec, device: torch.device) -> None:
        path = Path(spec.path)
        if not path.is_file():
            raise ConfigError(f"text: {path} not found: install it with `apt-get install {spec.package}` "
                              "(or set data.path to another text file and data.sha256 to its checksum)")
        raw = read_maybe_gzip(path, "text")
        digest = hashlib.sha256(raw).hexdigest()
        if spec.sha256 and digest != spec.sha256:
            raise ConfigError(f"text: {path}: SHA-256 {digest}, not data.sha256 {spec.sha256} (another version "
                              "of the package?); set data.sha256 to use it anyway")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"text: {path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                              f"{exc.start})") from None
        # the training part must hold a window and its next character, the validation part one window
        least = math.ceil((spec.context + 2) / min(spec.val_fraction, 1 - spec.val_fraction))
        if len(text) < least:
            raise ConfigError(f"text: {path}: {len(text):,} characters, too short for data.context "
                              f"{spec.context} and data.val_fraction {spec.val_fraction:g} (at least {least:,})")
        self.vocabulary = sorted(set(text))
        lookup = {c: i for i, c in enumerate(self.vocabulary)}
        tokens = torch.tensor([lookup[c] for c in text], dtype=torch.int64)
        split = int(len(tokens) * (1 - spec.val_fraction))
        self.device, self.context = device, spec.context
        self.train = tokens[:split].to(device)
        val = tokens[split:]
        windows = min(spec.eval_windows, (len(val) - 1) // spec.context)   # fixed, non-overlapping
        starts = torch.arange(windows) * spec.context
        self.test_x = torch.stack([val[s:s + spec.context] for s in starts]).to(device)
        self.test_y = torch.stack([val[s + 1:s + spec.context + 1] for s in starts]).to(device)
        self.input_shape, self.num_outputs, self.n_train = (spec.context,), len(self.vocabulary), split

    def batcher(self, batch_size: int | None, generator: torch.Generator, device: torch.device) -> WindowBatches:
        return WindowBatches(self.n_train, self.context, batch_size, generator)

    def batch(self, starts: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        index = upload(starts, self.device)[:, None] + torch.arange(self.context + 1, device=self.device)
        window = self.train[index]
        return window[:, :-1], window[:, 1:]

    def probe(self) -> tuple[Tensor, Tensor]:
        """The first 64 training windows."""
        return self.batch(torch.arange(64) * self.context, torch.Generator())

    def inputs(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return x


def text(spec, device: torch.device) -> TextData:
    return TextData(spec, device)
