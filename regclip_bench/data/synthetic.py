"""Offline data: a random teacher network (synthetic regression) and scikit-learn's digits."""

from __future__ import annotations

import torch

from .base import TensorData


def teacher(spec, device: torch.device) -> TensorData:
    """Gaussian inputs; targets from a fixed random tanh network (seeded by `spec.seed`)."""
    gen = torch.Generator().manual_seed(spec.seed)
    dims = [spec.input_dim] + [spec.teacher_width] * spec.teacher_depth + [spec.output_dim]
    weights = [torch.randn(a, b, generator=gen) / a ** 0.5 for a, b in zip(dims, dims[1:])]

    def label(x: torch.Tensor) -> torch.Tensor:
        for w in weights[:-1]:
            x = torch.tanh(x @ w)
        y = x @ weights[-1]
        return y + spec.noise * torch.randn(y.shape, generator=gen)

    train_x = torch.randn(spec.n, spec.input_dim, generator=gen)
    test_x = torch.randn(spec.n_test, spec.input_dim, generator=gen)
    train_y, test_y = label(train_x), label(test_x)
    input_shape, outputs = spec.shapes()
    return TensorData(train_x.to(device), train_y.to(device), test_x.to(device), test_y.to(device),
                      input_shape=input_shape, num_outputs=outputs)


def digits(spec, device: torch.device) -> TensorData:
    """scikit-learn's 8×8 digits (1,797 images shipped with the package), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32) / 16.0
    y = torch.tensor(bunch.target, dtype=torch.int64)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(spec.seed))
    n_test = round(len(x) * spec.test_fraction)
    test, train = order[:n_test], order[n_test:]
    input_shape, outputs = spec.shapes()
    return TensorData(x[train].to(device), y[train].to(device), x[test].to(device), y[test].to(device),
                      input_shape=input_shape, num_outputs=outputs, num_classes=outputs)
