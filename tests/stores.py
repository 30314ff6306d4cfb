"""Stores and sweeps for tests: a sweep folder of real trials (`make_sweep`), hand-made trials rows
(`trial_row`, `write_store`: the report and protocol tests, where training is not what they test), and a
copy of one file of the published store (`store_copy`: the damaged-store tests)."""

import json
import math
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from regclip_bench import identity as keys
from regclip_bench.config import resolve_trial
from regclip_bench.results.schema import SCHEMA_VERSION, TRIALS, VERSION_KEY
from regclip_bench.spec import load_task
from regclip_bench.sweep.grid import trial_key
from regclip_bench.trial import run_trial
from regclip_bench.trial_io import trial_table

TASK = load_task("teacher_mlp")


def make_sweep(folder: Path, sweep_id: str, runs, task: str = "teacher_mlp") -> dict:
    """A sweep folder as the sweep command leaves it: sweep.json and trials/<key>.parquet."""
    (folder / "trials").mkdir(parents=True)
    (folder / "sweep.json").write_text(json.dumps({"schema": 1, "name": folder.name, "sweep_id": sweep_id,
                                                   "runs": [{"run": "r1", "mode": "grid", "started": "now"}]}))
    results = {}
    for overrides in runs:
        config = resolve_trial(load_task(task), overrides)
        result = run_trial(config)
        key = trial_key(config)
        result.update(key=key, sweep=folder.name, hostname="h", node_id="n", git_commit="abc")
        pq.write_table(trial_table(result), folder / "trials" / f"{key}.parquet")
        results[key] = result
    return results


RUNS = [dict(optimizer="delta_gclip", width=16, steps=30, log_every=10, eval_every=15),
        dict(optimizer="adam", lr=1e-3, width=16, steps=20, log_every=10, eval_every=20),
        dict(optimizer="sgd", lr=1e4, width=16, steps=40, log_every=5)]   # diverges


def trial_row(optimizer, lr, seed, final, *, initial=1.0, status="completed", steps=math.inf, gamma=None,
              workload="w1", label="teacher_mlp"):
    hparams = {"lr": lr} | ({"gamma": gamma} if gamma is not None else {})
    config = {"task": "teacher_mlp", "optimizer": optimizer, "width": 1024, "depth": 2, **hparams,
              "seed": seed, "steps": 300, "epochs": None, "batch_size": "full"}
    config_key = f"{workload}-{optimizer}-{lr}-{gamma}"
    return {"sweep_id": "hand", "trial_id": f"{config_key}-{seed}", "config_hash": f"{config_key}-{seed}",
            "workload_key": workload, "config_key": config_key, "workload": label,
            "workload_json": json.dumps(keys.workload(TASK)), "optimizer": optimizer,
            "width": 1024, "depth": 2, "lr": lr, "gamma": gamma, "seed": seed, "steps": 300, "status": status,
            "final_loss": final, "initial_loss": initial, "steps_to_target": steps,
            "seconds_to_target": steps / 100, "train_time_s": 1.0, "device": "cpu", "device_name": "cpu",
            "cpu_model": "test cpu", "config_json": json.dumps(config, sort_keys=True)}


def write_store(root: Path, rows) -> str:
    folder = root / "trials" / "task=teacher_mlp"
    folder.mkdir(parents=True)
    table = pa.Table.from_pylist(rows, schema=TRIALS)
    pq.write_table(table.replace_schema_metadata({VERSION_KEY: str(SCHEMA_VERSION)}), folder / "hand.parquet")
    (root / "_schema.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION}))
    return str(root)


PUBLISHED_STORE = Path(__file__).resolve().parents[1] / "results" / "store"
ONE_TRIALS_FILE = "trials/task=lsq_gaussian/published-lsq_gaussian-adamw-095efb0ed0.parquet"


def store_copy(folder: Path, damage=None) -> str:
    """A store of one trials file of the published store, `damage(file)` done to it (or to the store)."""
    store = folder / "store"
    (store / ONE_TRIALS_FILE).parent.mkdir(parents=True)
    shutil.copy(PUBLISHED_STORE / "_schema.json", store / "_schema.json")
    shutil.copy(PUBLISHED_STORE / ONE_TRIALS_FILE, store / ONE_TRIALS_FILE)
    if damage is not None:
        damage(store / ONE_TRIALS_FILE)
    return str(store)
