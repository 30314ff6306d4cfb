"""One epoch of the paper's Fashion-MNIST VAE through `run_trial`, against a minimal hand-written
PyTorch loop of the same model, data and optimizer, in one run.

Both load the data with the suite's loader (the IDX files, checksummed), evaluate on the test set at
w₀ and after the epoch (the protocol's capped scores need the metric at w₀), train 600 steps of
batch 100 with δ-GClip, and use the same threads.  Runs alternate
so that machine noise hits both alike; the ratio is the median over pairs.  Target: ≤ 1.15×.

    python benchmarks/vae_epoch.py [--pairs 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from regclip_bench.config import resolve_trial
from regclip_bench.data import load_data
from regclip_bench.models import MLPVAE
from regclip_bench.optim import DeltaGClip
from regclip_bench.spec import load_task
from regclip_bench.trial import run_trial


def vae_loss(model, x):
    reconstruction, mu, logvar = model(x)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return torch.nn.functional.mse_loss(reconstruction, x, reduction="sum") + kl


def hand_written(spec, seed: int = 0) -> float:
    """Seconds for: load, evaluate, one epoch of training, evaluate — the plainest loop."""
    start = time.perf_counter()
    data = load_data(spec, torch.device("cpu"))
    torch.manual_seed(seed)
    model = MLPVAE()
    opt = DeltaGClip(model.parameters(), lr=1e-3, gamma=200.0, delta=0.1)
    train = data.train_x.flatten(1).float() / 255.0
    test = data.test_x.flatten(1).float() / 255.0

    @torch.no_grad()
    def evaluate() -> float:
        return sum(vae_loss(model, test[i:i + 1000]).item() for i in range(0, len(test), 1000)) / len(test)

    evaluate()
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    for i in range(0, len(train), 100):
        loss = vae_loss(model, train[order[i:i + 100]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    evaluate()
    return time.perf_counter() - start


def through_the_suite(config) -> float:
    start = time.perf_counter()
    run_trial(config)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = resolve_trial(load_task("fashion_mnist_vae"), {"epochs": 1, "device": "cpu"})
    through_the_suite(config)                                  # warm up both
    hand_written(config.task.data)
    ratios, suite, hand = [], [], []
    for _ in range(args.pairs):
        suite.append(through_the_suite(config))
        hand.append(hand_written(config.task.data))
        ratios.append(suite[-1] / hand[-1])
    print(f"fashion_mnist_vae: one epoch (600 steps of 100, δ-GClip) + evaluation at w₀ and after, "
          f"{torch.get_num_threads()} thread(s) in both, {args.pairs} pairs")
    print(f"  hand-written loop   median {statistics.median(hand):6.2f} s")
    print(f"  run_trial           median {statistics.median(suite):6.2f} s")
    print(f"  run_trial / hand-written: {statistics.median(ratios):.3f}x (pairs: "
          + ", ".join(f"{r:.3f}" for r in ratios) + ")  target <= 1.15x")


if __name__ == "__main__":
    main()
