"""Stores of cluster size: `query`, `leaderboard` and `report TASK` on stores of 1k, 10k and 100k trials.

A base sweep of 1,000 synthetic trials (four optimizers × six learning rates × seeds on one teacher_mlp
workload, 50 logged steps and 5 evaluations each) is written as a sweep leaves it and aggregated by the
package (so every table has the store's schema); a store of N trials is then N / 1,000 copies of it, each
with its own sweep id, trial ids and seeds (distinct keys, as N / 1,000 sweeps of a cluster would leave).
Each command runs as a user runs it, in its own process: wall time and peak resident memory (wait4).
Then `aggregate` of a fresh 500-trial sweep into each store: its time should not depend on the store's
size.  Targets on the 2-core development machine: at 100k trials each command ≤ 60 s and ≤ 4 GB, growth
no worse than linear, aggregation flat.

    python benchmarks/store_scaling.py [--sizes 1000,10000,100000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from regclip_bench.results import aggregate
from regclip_bench.trial_io import trial_table

OPTIMIZERS = {"delta_gclip": {"gamma": 0.3, "delta": 0.1}, "gclip": {"gamma": 0.3}, "sgd": {}, "adam": {}}
RATES = [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
STEPS, EVERY = 50, 10


def fake_result(i: int, seed_offset: int = 0) -> dict:
    """A teacher_mlp trial as run_trial returns it (50 logged steps, 5 evaluations)."""
    rng = random.Random(i + seed_offset)
    optimizer = list(OPTIMIZERS)[i % len(OPTIMIZERS)]
    lr = RATES[(i // len(OPTIMIZERS)) % len(RATES)]
    seed = i // (len(OPTIMIZERS) * len(RATES)) + seed_offset
    rate = 0.9 + 0.09 * rng.random()
    rows = [{"step": s, "loss": 0.5 * rate ** s, "loss_avg": 0.5 * rate ** s, "best_loss": 0.5 * rate ** s,
             "nonfinite": False, "first_hit": -1, "n_unclipped": 1.0, "n_clipped": 0.0, "n_floor": 0.0,
             "grad_norm": 0.5 * rate ** s, "dist_from_init": 0.01 * s, "nonfinite_steps": 0, "clip_factor": 1.0,
             "step_size": lr, "lr": lr, "pl_ratio": 0.3, "examples_per_s": 1e4, "regime": "unclipped",
             "frac_unclipped": 1.0, "frac_clipped": 0.0, "frac_floor": 0.0} for s in range(1, STEPS + 1)]
    config = {"task": "teacher_mlp", "optimizer": optimizer, "width": 64, "depth": 2, "lr": lr,
              **OPTIMIZERS[optimizer], "seed": seed, "steps": STEPS, "epochs": None, "batch_size": "full"}
    final = rows[-1]["loss"]
    return {"status": "completed", "final_loss": final, "final_train_loss": final, "initial_loss": 0.5,
            "steps_done": STEPS, "config": config, "steps_to_target": float("inf"), "steps": rows,
            "evals": [{"step": s, "epoch": float(s), "test_loss": 0.5 * rate ** s}
                      for s in range(EVERY, STEPS + 1, EVERY)]}


def _write(args: tuple[str, int, int]) -> None:
    folder, i, offset = args
    pq.write_table(trial_table(fake_result(i, offset)), f"{folder}/trials/{i + offset:08x}.parquet")


def make_sweep(folder: Path, trials: int, offset: int = 0) -> Path:
    (folder / "trials").mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"schema": 1, "name": folder.name,
                                                   "sweep_id": f"{folder.name}-bench", "runs": []}))
    with multiprocessing.get_context("fork").Pool() as pool:
        pool.map(_write, [(str(folder), i, offset) for i in range(trials)], chunksize=32)
    return folder


def replicate(base: Path, store: Path, copies: int) -> None:
    """`copies` copies of the base store's one sweep, each with its own sweep id, trial ids and seeds."""
    store.mkdir(parents=True)
    shutil.copy(base / "_schema.json", store / "_schema.json")
    for table_dir in (p for p in base.iterdir() if p.is_dir()):
        for source in table_dir.rglob("*.parquet"):
            table = pq.read_table(source)
            partition = source.parent.relative_to(base)
            (store / partition).mkdir(parents=True, exist_ok=True)
            for j in range(copies):
                copy = table
                sweep = pc.binary_join_element_wise(copy["sweep_id"], pa.scalar(f"-c{j}"), pa.scalar(""))
                copy = copy.set_column(copy.schema.get_field_index("sweep_id"), "sweep_id", sweep)
                if "trial_id" in copy.column_names:
                    ids = pc.binary_join_element_wise(copy["trial_id"], pa.scalar(f"{j:05d}"), pa.scalar(""))
                    copy = copy.set_column(copy.schema.get_field_index("trial_id"), "trial_id", ids)
                if "seed" in copy.column_names:
                    seeds = pc.add(copy["seed"], pa.scalar(1000 * j, copy["seed"].type))
                    copy = copy.set_column(copy.schema.get_field_index("seed"), "seed", seeds)
                pq.write_table(copy.replace_schema_metadata(table.schema.metadata),
                               store / partition / source.name.replace(".parquet", f"-c{j}.parquet"))


def timed(argv: list[str]) -> tuple[float, float, str]:
    """(seconds, peak resident GB, last line of output) of one CLI command in its own process."""
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "regclip_bench.cli", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{out}")
    return seconds, usage.ru_maxrss / 1024 ** 2, (out.strip().splitlines() or [""])[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    root = Path(tempfile.mkdtemp(prefix="store-scaling-"))
    try:
        base_store = root / "base"
        aggregate(str(make_sweep(root / "base-sweep", 1000)), str(base_store))
        extra = make_sweep(root / "extra", 500, offset=10_000_000)
        rows = []
        for n in sizes:
            store = root / f"store{n}"
            replicate(base_store, store, max(1, n // 1000))
            measured = {"query": timed(["query", str(store)]),
                        "leaderboard": timed(["leaderboard", str(store), "--out", str(root / f"board{n}")]),
                        "report TASK": timed(["report", str(store), "--task", "teacher_mlp",
                                              "--out", str(root / f"report{n}")])}
            measured["aggregate 500"] = timed(["aggregate", str(extra), "--into", str(store)])
            rows.append((n, measured))
            for what, (seconds, gb, _) in measured.items():
                print(f"{n:7,d} trials  {what:14s} {seconds:7.2f} s  peak {gb:5.2f} GB", flush=True)
            shutil.rmtree(store)
        print()
        first_n, first = rows[0]
        for n, measured in rows[1:]:
            print(f"{n:,} / {first_n:,} trials ({n / first_n:.0f}× the data): "
                  + ", ".join(f"{what} {measured[what][0] / first[what][0]:.2f}×" for what in measured))
        last_n, last = rows[-1]
        worst = max(last.items(), key=lambda item: item[1][0])
        print(f"at {last_n:,} trials the slowest command: {worst[0]} {worst[1][0]:.1f} s (target ≤ 60 s); "
              f"most memory {max(m[1] for m in last.values()):.2f} GB (target ≤ 4 GB)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
