"""Streaming least squares (Marshall, Xiao, Agarwala & Paquette 2024, "A Clipped Trip: the Dynamics of
SGD with Gradient Clipping in High-Dimensions"): no dataset, a fresh sample at every step.

    x ~ N(0, Σ),  Σ = diag(λ),  λ_i ∝ i^(−spectrum), tr Σ = 1;   y = xᵀw* + σ·ε,  w* ~ N(0, I)

with ε standard Gaussian or Student-t.  The stream is drawn from the trial's generator, whose state is
in every checkpoint: a resumed trial sees the very samples it would have.  The excess risk of a linear
model w is exact: E[(xᵀw − y)²] − E[(xᵀw* − y)²] = (w − w*)ᵀΣ(w − w*).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import StreamBatches, upload


class StreamLSQ:
    num_classes = None

    def __init__(self, spec, device: torch.device) -> None:
        self.spec, self.device = spec, device
        generator = torch.Generator().manual_seed(spec.seed)
        eigenvalues = torch.arange(1, spec.dim + 1, dtype=torch.float64) ** -spec.spectrum
        self.eigenvalues = (eigenvalues / eigenvalues.sum()).to(device)           # tr Σ = 1
        self.w_star = torch.randn(spec.dim, generator=generator, dtype=torch.float64).to(device)
        self.scale = self.eigenvalues.sqrt().float()
        self.input_shape, self.num_outputs = spec.shapes()
        self.n_train = None   # a stream

    def batcher(self, batch_size: int | None, generator: torch.Generator, device: torch.device) -> StreamBatches:
        return StreamBatches(batch_size)

    def batch(self, size: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """`size` fresh samples, drawn from `generator` on the CPU (the same stream on any device)."""
        z = torch.randn(size, self.spec.dim, generator=generator)
        if self.spec.noise == "gaussian":
            eps = torch.randn(size, 1, generator=generator)
        else:   # Student-t: a normal over the square root of an independent chi-squared / df
            chi2 = torch._standard_gamma(torch.full((size, 1), self.spec.df / 2), generator=generator) * 2
            eps = torch.randn(size, 1, generator=generator) / (chi2 / self.spec.df).sqrt()
        x = upload(z, self.device) * self.scale
        y = x.double() @ self.w_star.unsqueeze(1) + self.spec.noise_scale * upload(eps, self.device, torch.float64)
        return x, y.float()

    def probe(self) -> tuple[Tensor, Tensor]:
        """1,024 samples from a generator of their own: the same for every trial, the stream untouched."""
        return self.batch(1024, torch.Generator().manual_seed(self.spec.seed + 1_000_003))

    def inputs(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return x

    def excess_risk(self, model: torch.nn.Module) -> float:
        """(w − w*)ᵀΣ(w − w*) of a linear model, exactly."""
        w = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
        return float(((w[:len(self.w_star)] - self.w_star) ** 2 * self.eigenvalues).sum())


def stream_lsq(spec, device: torch.device) -> StreamLSQ:
    return StreamLSQ(spec, device)
