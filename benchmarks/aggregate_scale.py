"""Synthetic trial outputs of N trials × S logged steps into a store and back.

Writes N trial files as a sweep leaves them (the trial loop's own Parquet layout), then
times `aggregate` into a fresh store and `load` of every table, twice: at N trials and
at 2N, and reports the peak resident memory.  Targets: 1,000 × 1,000 in ≤ 10 s, peak
memory ≤ 1.5 GB, and twice the rows in ≤ 2.2× the time.

    python benchmarks/aggregate_scale.py [--trials 1000] [--steps 1000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import resource
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from regclip_bench.results import aggregate, load
from regclip_bench.trial_io import trial_table


def fake_result(i: int, steps: int) -> dict:
    rng = random.Random(i)
    rows = []
    for s in range(1, steps + 1):
        loss = 0.7 * 0.99 ** s * (1 + 0.01 * rng.random())
        rows.append({"step": s, "loss": loss, "loss_avg": loss, "best_loss": loss, "nonfinite": False,
                     "first_hit": -1, "n_unclipped": 1.0, "n_clipped": 0.0, "n_floor": 0.0,
                     "grad_norm": 0.5, "dist_from_init": 0.01 * s, "nonfinite_steps": 0,
                     "clip_factor": 1.0, "step_size": 0.5, "lr": 0.5, "pl_ratio": 0.3,
                     "examples_per_s": 1e4, "regime": "unclipped", "frac_unclipped": 1.0,
                     "frac_clipped": 0.0, "frac_floor": 0.0})
    config = {"task": "teacher_mlp", "optimizer": "delta_gclip", "width": 64, "depth": 2, "lr": 0.5,
              "gamma": 0.3, "delta": 0.1, "seed": i, "steps": steps, "epochs": None, "batch_size": "full"}
    return {"status": "completed", "final_loss": rows[-1]["loss"], "steps_done": steps, "config": config,
            "steps_to_target": float("inf"), "steps": rows,
            "evals": [{"step": steps, "epoch": float(steps), "test_loss": 0.1}]}


def write_trial(args: tuple[str, int, int]) -> None:
    folder, i, steps = args
    pq.write_table(trial_table(fake_result(i, steps)), f"{folder}/trials/{i:08x}.parquet")


def make_sweep(folder: Path, trials: int, steps: int) -> None:
    (folder / "trials").mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"schema": 1, "name": folder.name,
                                                   "sweep_id": f"{folder.name}-bench", "runs": []}))
    with multiprocessing.get_context("fork").Pool() as pool:
        pool.map(write_trial, [(str(folder), i, steps) for i in range(trials)], chunksize=16)


def measure(root: Path, trials: int, steps: int) -> tuple[float, float, int]:
    sweep = root / f"sweep{trials}"
    make_sweep(sweep, trials, steps)
    store = root / f"store{trials}"
    start = time.perf_counter()
    aggregate(str(sweep), str(store))
    written = time.perf_counter() - start
    rows = sum(len(load(str(store), table)) for table in ("steps", "evals", "trials", "sweeps"))
    return written, time.perf_counter() - start, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        one = measure(Path(root), args.trials, args.steps)
        two = measure(Path(root), 2 * args.trials, args.steps)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2
    for (aggregated, total, rows), n in ((one, args.trials), (two, 2 * args.trials)):
        print(f"{n:6d} trials × {args.steps} steps: aggregate {aggregated:5.2f} s, aggregate + load all "
              f"tables {total:5.2f} s ({rows:,} rows)")
    print(f"twice the rows: {two[1] / one[1]:.2f}× the time   (target ≤ 2.2×)")
    print(f"{args.trials} × {args.steps}: {one[1]:.2f} s   (target ≤ 10 s)")
    print(f"peak memory (this process, both sizes): {peak_gb:.2f} GB   (target ≤ 1.5 GB)")


if __name__ == "__main__":
    main()
