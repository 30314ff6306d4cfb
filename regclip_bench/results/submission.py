"""External results for the leaderboard: a Parquet file of `trials` rows, checked before it lands.

A submission must be schema version 2, have the trials table's columns with their types,
plausible values, keys unique in itself and new to the store, and a task the suite knows.
It is added as its own sweep(s) in the store, with its provenance columns as submitted; its
workload and configuration keys are computed here from its configuration, never taken from it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..identity import identity_from_flat
from ..spec import task_names
from .schema import SCHEMA_VERSION, TRIALS, VERSION_KEY
from .store import ResultsError, _ensure_store, _write_partition, load

REQUIRED = ("sweep_id", "trial_id", "task", "optimizer", "seed", "status", "final_loss",
            "steps_to_target", "seconds_to_target", "train_time_s", "git_commit", "torch_version")
STATUSES = {"completed", "no_progress", "diverged", "failed", "stopped"}


def add_submission(store: str, path: str | Path) -> int:
    """Validate `path` and add its trials to `store`; return the number of trials added."""
    table = _read(Path(path))
    name = Path(path).name
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ResultsError(f"{name}: missing required column(s): {', '.join(missing)}")
    unknown = sorted(set(table.column_names) - set(TRIALS.names) - {"task"})
    if unknown:
        raise ResultsError(f"{name}: unknown column(s): {', '.join(unknown)}")
    table = _conform_types(table, name)
    rows = table.to_pylist()
    _check_values(rows, name)
    for row in rows:
        row.update(identity_from_flat(_flat(row)))
    keys = [(r["sweep_id"], r["trial_id"]) for r in rows]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ResultsError(f"{name}: duplicate key sweep_id={dup[0]!r} trial_id={dup[1]!r}")
    try:
        existing = set(load(store, "trials")["sweep_id"])
    except ResultsError:
        existing = set()
    clash = sorted({k[0] for k in keys} & existing)
    if clash:
        raise ResultsError(f"{name}: sweep_id {clash[0]!r} is already in the store")
    _ensure_store(store)
    for (task, sweep_id), group in _groups(rows).items():
        part = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "task"} for r in group],
                                    schema=TRIALS)
        _write_partition(store, "trials", task, sweep_id, part)
    return len(rows)


def _read(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ResultsError(f"{path.name}: not a readable Parquet file ({exc})") from None
    version = (table.schema.metadata or {}).get(VERSION_KEY)
    if version is None:
        raise ResultsError(f"{path.name}: no {VERSION_KEY.decode()} in its metadata; "
                           f"write schema version {SCHEMA_VERSION}")
    if int(version) != SCHEMA_VERSION:
        raise ResultsError(f"{path.name}: schema version {int(version)}; the leaderboard takes version "
                           f"{SCHEMA_VERSION}")
    return table


def _conform_types(table: pa.Table, name: str) -> pa.Table:
    columns = {}
    for field in TRIALS:
        if field.name in table.column_names:
            try:
                columns[field.name] = table[field.name].cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise ResultsError(f"{name}: column {field.name} is {table[field.name].type}, "
                                   f"expected {field.type}") from None
        else:
            columns[field.name] = pa.nulls(table.num_rows, field.type)
    columns["task"] = table["task"].cast(pa.string())
    return pa.table(columns)


def _check_values(rows: list[dict], name: str) -> None:
    known = set(task_names())
    for i, row in enumerate(rows):
        where = f"{name}: row {i}"
        if row["task"] not in known:
            raise ResultsError(f"{where}: unknown task {row['task']!r}")
        if row["status"] not in STATUSES:
            raise ResultsError(f"{where}: status {row['status']!r} is not one of {', '.join(sorted(STATUSES))}")
        for key in ("sweep_id", "trial_id", "optimizer"):
            if not row[key]:
                raise ResultsError(f"{where}: empty {key}")
        if row["seed"] is None or row["seed"] < 0:
            raise ResultsError(f"{where}: seed {row['seed']!r} must be >= 0")
        loss = row["final_loss"]
        if row["status"] == "completed" and (loss is None or not math.isfinite(loss) or loss < 0):
            raise ResultsError(f"{where}: final_loss {loss!r} of a completed trial must be finite and >= 0")
        steps = row["steps_to_target"]
        if steps is None or not (steps == math.inf or (steps >= 1 and float(steps).is_integer())):
            raise ResultsError(f"{where}: steps_to_target {steps!r} must be a whole number >= 1, or inf")
        for key in ("seconds_to_target", "train_time_s"):
            if row[key] is None or row[key] < 0 or math.isnan(row[key]):
                raise ResultsError(f"{where}: {key} {row[key]!r} must be >= 0")
        if steps == math.inf and row["seconds_to_target"] != math.inf:
            raise ResultsError(f"{where}: seconds_to_target must be inf when steps_to_target is")


FLAT = ("task", "optimizer", "width", "depth", "lr", "gamma", "delta", "weight_decay", "momentum", "seed",
        "steps", "epochs", "batch_size")


def _flat(row: dict) -> dict:
    """The row's flat configuration: its config_json when it has one, else its columns."""
    if row.get("config_json"):
        try:
            flat = json.loads(row["config_json"])
        except json.JSONDecodeError:
            flat = None
        if isinstance(flat, dict):
            return {**flat, "task": row["task"], "optimizer": row["optimizer"]}
    return {k: row.get(k) for k in FLAT}


def _groups(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["sweep_id"]), []).append(row)
    return groups


__all__ = ["add_submission"]
