"""Steps per second of a trial whose step is replayed from a CUDA graph, against the same trial run as it
is, measured in one run (issue 31, item 6): a single trial and a pack, interleaved round by round.

The workloads are the small ones a GPU runs launch-bound: teacher_mlp at width 64, depth 2 (a trial; a pack
of 16), and the paper's VAE (a trial of one epoch, batch 128; a pack of 8 seeds) — δ-GClip throughout.
Each captured run's final loss is compared with the uncaptured one's (equal up to float rounding: the
same kernels run in the same order).  On a device other than CUDA nothing is captured (graphs.py): the
ratio then measures only what the captured loop adds, ‖g‖ and ‖Δw‖ measured on every step.

    python benchmarks/captured_step.py [--device cuda] [--rounds 3] [--threads 1] [--synthetic-data DIR]

`--synthetic-data DIR`: the VAE on random images of Fashion-MNIST's size (written once in DIR), where the
dataset is not on disk.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from _synthetic import data_line, fashion_overrides

from regclip_bench.config import resolve_trial
from regclip_bench.graphs import CapturedStep
from regclip_bench.packed import run_pack
from regclip_bench.spec import load_task
from regclip_bench.trial import run_trial

WORKLOADS = {   # name: (task, fixed settings, seeds of a pack)
    "teacher_mlp": ("teacher_mlp", dict(width=64, depth=2, steps=2000, log_every=100, eval_every=2000), 16),
    "vae": ("fashion_mnist_vae", dict(epochs=1, eval_every=10**6), 8),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    parser.add_argument("--only", choices=sorted(WORKLOADS), help="one workload")
    parser.add_argument("--synthetic-data", metavar="DIR", help="the VAE on random images of Fashion-MNIST's size")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    for name, (task_name, fixed, k) in WORKLOADS.items():
        if args.only and name != args.only:
            continue
        task = load_task(task_name)
        data = {}
        if name == "vae":
            data = fashion_overrides(args.synthetic_data)
            print(data_line(args.synthetic_data), flush=True)
        configs = [resolve_trial(task, {**fixed, "optimizer": "delta_gclip", "lr": 1e-3 if name == "vae" else 0.3,
                                        "gamma": 1.0, "delta": 0.1, "seed": s, "device": args.device, **data})
                   for s in range(k)]
        variants = {"trial": lambda capture: [run_trial(configs[0], capture=capture)],
                    f"pack of {k}": lambda capture: run_pack(configs, capture=capture)}
        for label, run in variants.items():
            times: dict[bool, list[float]] = {False: [], True: []}
            finals: dict[bool, list[float]] = {}
            run(False)   # untimed: what the first run of a process pays once (allocator, kernels' first use)
            for _ in range(args.rounds):
                for capture in (False, True):
                    made = CapturedStep.made
                    start = time.perf_counter()
                    records = run(capture)
                    if cuda:
                        torch.cuda.synchronize()
                    times[capture].append(time.perf_counter() - start)
                    finals[capture] = [r["final_loss"] for r in records]
                    graphs = CapturedStep.made - made
            steps = records[0]["steps_done"] * len(records)
            plain, captured = statistics.median(times[False]), statistics.median(times[True])
            diff = max(abs(a - b) / max(abs(b), 1e-30) for a, b in zip(finals[True], finals[False]))
            print(f"{name} {label} on {records[0]['device_name']}: {steps / plain:9.1f} steps/s as it is, "
                  f"{steps / captured:9.1f} captured ({graphs} graph(s)): {plain / captured:.2f}x "
                  f"(per round: {', '.join(f'{p / c:.2f}' for p, c in zip(times[False], times[True]))}); "
                  f"final losses differ by {diff:.1e} at most", flush=True)


if __name__ == "__main__":
    main()
