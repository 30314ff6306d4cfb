"""The same trials through a sweep on local Ray and through a plain sequential loop, in one run.

Prints the wall time of each, the speed-up, and the per-trial overhead of the sweep:
(sweep wall − sequential wall / slots) · slots / trials, where slots is the number of
trials Ray runs at once (one per CPU).  Targets on a 2-CPU machine: overhead ≤ 0.5 s per
trial; 32 trials of about 2 s: sweep wall ≤ 0.65 × sequential (the limit is 0.5×).

    python benchmarks/sweep_overhead.py [--trials 32] [--steps 2000] [--width 64]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from regclip_bench.spec import load_task
from regclip_bench.sweep.grid import plan_grid
from regclip_bench.sweep.runner import SweepOptions, run_sweep
from regclip_bench.trial import run_trial


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--width", type=int, default=64)
    args = parser.parse_args()

    task = load_task("teacher_mlp")
    lrs = [round(0.05 + 0.01 * i, 4) for i in range(args.trials)]
    trials = plan_grid(task, {"width": [args.width], "depth": [2], "lr": lrs},
                       {"steps": args.steps}, ["sgd"], 1)
    slots = os.cpu_count() or 1

    threads = torch.get_num_threads()
    start = time.perf_counter()
    sequential_train = 0.0
    for trial in trials:
        sequential_train += run_trial(trial.config)["train_time_s"]
    sequential = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as storage:
        start = time.perf_counter()
        outcome = run_sweep(trials, SweepOptions(name="overhead", storage=storage),
                            task.model_dump(mode="json"))
        sweep = time.perf_counter() - start
    assert outcome.statuses.get("completed") == len(trials), outcome

    per_trial = sequential / len(trials)
    overhead = (sweep - sequential / slots) * slots / len(trials)
    print(f"{len(trials)} trials of teacher_mlp (width {args.width}, depth 2, {args.steps} steps, SGD), "
          f"{slots} CPUs")
    print(f"  sequential loop, one process ({threads} torch threads): {sequential:6.1f} s "
          f"({per_trial:.2f} s per trial, {sequential_train / len(trials):.2f} s of it training)")
    print(f"  sweep on local Ray ({slots} trials at a time, 1 thread each): {sweep:6.1f} s "
          f"(Ray start and shutdown included)")
    print(f"  sweep / sequential = {sweep / sequential:.2f}   (target ≤ 0.65, limit {1 / slots:.2f})")
    print(f"  per-trial overhead = {overhead:.2f} s   (target ≤ 0.5 s)")


if __name__ == "__main__":
    main()
