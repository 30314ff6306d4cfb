"""Median optimizer step time on a ResNet-18-sized parameter set, as ratios measured in one run.

Compares DeltaGClip with torch.optim.SGD(foreach=True) (one read-modify-write pass), with
the floor for any global-norm method (a norm pass over the gradients, then that SGD step) and with a straightforward reference implementation of δ-GClip (concatenate all
gradients, take the norm, Python min/max, one add_ per parameter), the style of the
public implementation.  The three are interleaved round by round so that machine noise
hits them alike; each ratio is the median over rounds of the per-round ratio.

    python benchmarks/optimizer_step.py [--rounds 40] [--threads 1] [--device cpu] [--cuda-graph]

`--cuda-graph` (on CUDA) replays each step from a CUDA graph (graphs.CapturedStep), as a captured trial
does, so that kernel launches no longer count; the reference, which reads ‖g‖ on the host, is left out.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import torch

from regclip_bench.graphs import WARMUP, CapturedStep
from regclip_bench.optim import DeltaGClip
from regclip_bench.vision import torchvision


class NormThenSGD(torch.optim.SGD):
    """The floor for any δ-GClip: a pass for the gradient norm, then a plain SGD step."""

    @torch.no_grad()
    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
        return super().step(closure)


class NormOnly(torch.optim.Optimizer):
    """Just the norm pass: what a global norm costs on this machine, relative to an SGD step."""

    def __init__(self, params) -> None:
        super().__init__(params, {})

    @torch.no_grad()
    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))


class ReferenceDeltaGClip(torch.optim.Optimizer):
    """δ-GClip written the obvious way: correct, but with a host sync and a copy of all gradients."""

    def __init__(self, params, lr: float, gamma: float, delta: float) -> None:
        super().__init__(params, dict(lr=lr, gamma=gamma, delta=delta))

    @torch.no_grad()
    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = torch.cat([g.reshape(-1) for g in grads]).norm().item()
        for group in self.param_groups:
            h = group["lr"] * min(1.0, max(group["delta"], group["gamma"] / norm))
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-h)


def resnet18_params(device: torch.device) -> list[torch.nn.Parameter]:
    model = torchvision.models.resnet18(num_classes=10).to(device)
    params = list(model.parameters())
    generator = torch.Generator(device=device).manual_seed(0)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator, device=device) * 1e-3
    return params


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cuda-graph", action="store_true", help="replay each step from a CUDA graph")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    params = resnet18_params(device)
    # Small steps keep the weights finite however many rounds run; gamma clips (‖g‖ ≈ 3.4).
    optimizers = {
        "SGD(foreach=True)": torch.optim.SGD(params, lr=1e-6, foreach=True),
        "DeltaGClip": DeltaGClip(params, lr=1e-6, gamma=0.25, delta=1e-3),
        "floor: norm + SGD": NormThenSGD(params, lr=1e-6, foreach=True),
        "norm pass alone": NormOnly(params),
        "reference δ-GClip": ReferenceDeltaGClip(params, lr=1e-6, gamma=0.25, delta=1e-3),
    }
    steps = {name: opt.step for name, opt in optimizers.items()}
    if args.cuda_graph:
        del steps["reference δ-GClip"]
        steps = {name: functools.partial(CapturedStep(step, device), None) for name, step in steps.items()}
    times: dict[str, list[float]] = {name: [] for name in steps}
    for name, step in steps.items():  # warm-up (and, with --cuda-graph, the capture)
        for _ in range(WARMUP + 2):
            step()
    for _ in range(args.rounds):
        for name, step in steps.items():
            sync(device)
            start = time.perf_counter()
            step()
            sync(device)
            times[name].append(time.perf_counter() - start)

    n_params = sum(p.numel() for p in params)
    print(f"{n_params / 1e6:.1f} M parameters in {len(params)} tensors, device {device}, "
          f"{torch.get_num_threads()} thread(s), {args.rounds} rounds"
          + (", each step replayed from a CUDA graph" if args.cuda_graph and device.type == "cuda" else ""))
    base = times["SGD(foreach=True)"]
    for name, samples in times.items():
        ratio = statistics.median(t / b for t, b in zip(samples, base))
        print(f"  {name:20s} median {statistics.median(samples) * 1e3:8.3f} ms   {ratio:5.2f}x SGD")


if __name__ == "__main__":
    main()
