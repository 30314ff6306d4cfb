"""A short demonstration of δ-GClip: a wide MLP fits a random teacher at full batch.

Prints, every few steps, the quantities the paper's theorem is about: the loss, the
global gradient norm ‖g‖, the clip factor h/η and its regime, the PL ratio ‖g‖²/L and
the distance from initialisation ‖w − w₀‖; then the final loss of each optimizer.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from .optim import OPTIMIZERS, REGIME_NAMES, classify_regime, make_optimizer

# At lr 0.3 plain gradient descent diverges on this problem; clipping keeps it stable.
DEMO_RUNS = [
    ("delta_gclip", dict(lr=0.3, gamma=1.0, delta=0.1)),
    ("gclip", dict(lr=0.3, gamma=1.0)),
    ("sgd", dict(lr=0.3)),
    ("sgd", dict(lr=0.1)),
]


def teacher_data(n: int, d_in: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d_in, generator=gen)
    w1 = torch.randn(d_in, 32, generator=gen) / d_in ** 0.5
    w2 = torch.randn(32, 1, generator=gen) / 32 ** 0.5
    return x, torch.tanh(x @ w1) @ w2


def student(d_in: int, width: int, depth: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i in range(depth):
        layers += [nn.Linear(d_in if i == 0 else width, width), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def train(name: str, hparams: dict, steps: int, width: int, depth: int, seed: int,
          log_every: int, verbose: bool) -> float:
    x, y = teacher_data(64, 16, seed)  # few points: the wide student can interpolate them
    model = student(16, width, depth, seed)
    w0 = [p.detach().clone() for p in model.parameters()]
    opt = make_optimizer(name, model.parameters(), **hparams)
    clips = OPTIMIZERS[name].clips
    if verbose:
        print(f"\n{name} {hparams}")
        print(f"{'step':>6} {'loss':>11} {'‖g‖':>10} {'h/η':>8} {'regime':>9} {'‖g‖²/L':>9} {'‖w−w₀‖':>8}")
    for step in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        if verbose and (step % log_every == 0 or step == 1):
            grad_norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
            dist = torch.linalg.vector_norm(torch.stack(
                [(p.detach() - p0).norm() for p, p0 in zip(model.parameters(), w0)]))
            factor = f"{opt.last_clip_factor.item():8.4f}" if clips else f"{'—':>8}"
            regime = (REGIME_NAMES[classify_regime(opt.last_clip_factor, hparams.get('delta', 0.0))]
                      if clips else "—")
            print(f"{step:6d} {loss.item():11.4e} {grad_norm.item():10.4f} {factor} {regime:>9} "
                  f"{grad_norm.item() ** 2 / loss.item():9.3f} {dist.item():8.3f}")
    with torch.no_grad():
        return nn.functional.mse_loss(model(x), y).item()


def run_demo(steps: int = 300, width: int = 512, depth: int = 2, seed: int = 0,
             log_every: int = 50) -> list[float]:
    start = time.perf_counter()
    final = [train(name, hparams, steps, width, depth, seed, log_every, verbose=True)
             for name, hparams in DEMO_RUNS]
    print(f"\nfinal training loss after {steps} full-batch steps (width {width}, depth {depth}):")
    for (name, hparams), loss in zip(DEMO_RUNS, final):
        print(f"  {name:12s} lr={hparams['lr']:<4g} {loss:.4e}")
    print(f"({time.perf_counter() - start:.1f} s)")
    return final
