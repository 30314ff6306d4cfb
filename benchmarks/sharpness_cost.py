"""What one sharpness measurement costs, in gradients of the same batch, on a task's model.

The diagnostic (`regclip_bench/sharpness.py`) runs `iterations` Hessian-vector products by power
iteration; a Hessian-vector product is a backward pass through the gradient's graph.  Gradients and
measurements alternate so that machine noise hits both alike; the ratio is the median over rounds.
No target: the number is what docs and the README quote for the cost of `budget.sharpness_every`.

    python benchmarks/sharpness_cost.py [--task teacher_mlp_eos] [--iterations 20] [--rounds 7]
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
from regclip_bench.sharpness import model_sharpness
from regclip_bench.spec import load_task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="teacher_mlp_eos")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--gradients", type=int, default=20, help="gradients timed per round")
    args = parser.parse_args()

    task = resolve_trial(load_task(args.task), {}).task
    data = load_data(task.data, torch.device("cpu"))
    torch.manual_seed(0)
    model = build_model(task.model, data.input_shape, data.num_outputs)
    kind = KINDS[task.loss]
    batch_size = None if task.budget.batch_size == "full" else task.budget.batch_size
    x, y = data.batch(data.batcher(batch_size, torch.Generator(), torch.device("cpu")).next(), torch.Generator())

    ratios = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.gradients):
            model.zero_grad(set_to_none=True)
            kind.loss(model, x, y).backward()
        gradient = (time.perf_counter() - start) / args.gradients
        start = time.perf_counter()
        model_sharpness(kind, model, x, y, args.iterations)
        ratios.append((time.perf_counter() - start) / gradient)
    ratio = statistics.median(ratios)
    print(f"{args.task}: one sharpness measurement ({args.iterations} Hessian-vector products) = "
          f"{ratio:.1f} gradients (median of {args.rounds}; rounds {min(ratios):.1f}-{max(ratios):.1f}); "
          f"{ratio / args.iterations:.2f} gradients per Hessian-vector product")
    every = task.budget.log_every * max(task.budget.sharpness_every, 1)
    print(f"at the task's setting (every {every} steps): about {ratio / every:.2f}x the training steps' cost")


if __name__ == "__main__":
    main()
