"""Steps/s of the trial loop against a bare hand-written loop: what the diagnostics cost.

Same task (teacher_mlp, full batch), model, data and optimizer (δ-GClip) in both; the
bare loop does forward, backward and step and nothing else.  Runs alternate so that
machine noise hits both alike; the overhead is the median over pairs.

    python benchmarks/trial_throughput.py [--width 1024] [--depth 4] [--steps 200] [--pairs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from regclip_bench.config import resolve_trial
from regclip_bench.data import load_data
from regclip_bench.kinds import KINDS
from regclip_bench.models import build_model
from regclip_bench.optim import make_optimizer
from regclip_bench.spec import load_task
from regclip_bench.trial import run_trial


def bare_loop(config) -> float:
    """Seconds per step of the plainest loop over the same trial."""
    task = config.task
    torch.manual_seed(config.seed)
    data = load_data(task.data, torch.device("cpu"))
    model = build_model(task.model, data.input_shape, data.num_outputs)
    opt = make_optimizer(config.optimizer, model.parameters(), **config.hparams)
    kind = KINDS[task.loss]
    steps = task.budget.steps
    start = time.perf_counter()
    for _ in range(steps):
        loss = kind.loss(model, data.train_x, data.train_y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    loss.item()
    return (time.perf_counter() - start) / steps


def trial_loop(config) -> float:
    result = run_trial(config)
    return result["train_time_s"] / result["steps_done"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    config = resolve_trial(load_task("teacher_mlp"), dict(
        width=args.width, depth=args.depth, steps=args.steps, eval_every=args.steps, device="cpu"))
    log_every = config.task.budget.log_every
    warm = resolve_trial(config.task, dict(steps=5, eval_every=5, device="cpu"))
    bare_loop(warm), trial_loop(warm)  # first-touch costs (allocator, kernels) out of the timings
    bare, full = [], []
    for _ in range(args.pairs):
        bare.append(bare_loop(config))
        full.append(trial_loop(config))
    overheads = [f / b - 1 for f, b in zip(full, bare)]
    print(f"teacher_mlp width {args.width} depth {args.depth}, full batch, δ-GClip, {args.steps} steps, "
          f"log every {log_every}, {torch.get_num_threads()} thread(s), {args.pairs} pairs")
    print(f"  bare loop   {1 / statistics.median(bare):8.2f} steps/s")
    print(f"  trial loop  {1 / statistics.median(full):8.2f} steps/s")
    print(f"  diagnostics cost {100 * statistics.median(overheads):+.1f}% per step "
          f"(pairs: {', '.join(f'{100 * o:+.1f}%' for o in overheads)})")


if __name__ == "__main__":
    main()
