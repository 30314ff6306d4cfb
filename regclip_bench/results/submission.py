"""External results for the leaderboard: a Parquet file of `trials` rows, checked before it lands.

A submission must be schema version 2, have the trials table's columns with their types,
plausible values, keys unique in itself and new to the store, and a task the suite knows.
It is added as its own sweep(s) in the store, with its provenance columns as submitted; its
workload and configuration keys are computed here from its configuration, never taken from it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..errors import ConfigError, check_name
from ..identity import identity_from_flat, optimizer_arguments
from ..optim import OPTIMIZERS
from ..optim.base import check_hyperparameters
from ..optim.registry import check_names
from ..spec import task_names
from ..storage import filesystem, normalise
from ..summary import Status
from .schema import CONFIG_COLUMNS, SCHEMA_VERSION, TABLES, TRIALS, VERSION_KEY
from .store import ResultsError, _ensure_store, _write_partition, parse_version

REQUIRED = ("sweep_id", "trial_id", "task", "optimizer", "seed", "status", "final_loss",
            "steps_to_target", "seconds_to_target", "train_time_s", "git_commit", "torch_version")
MAX_ROWS = 100_000


def add_submission(store: str, path: str | Path, max_rows: int = MAX_ROWS) -> int:
    """Validate `path` and add its trials to `store` as new sweep(s); return the number of trials
    added.  Nothing is written unless every row passes."""
    name = Path(path).name
    table = _read(Path(path), max_rows)
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise ResultsError(f"{name}: missing required column(s): {', '.join(missing)}")
    unknown = sorted(set(table.column_names) - set(TRIALS.names) - {"task"})
    if unknown:
        raise ResultsError(f"{name}: unknown column(s): {', '.join(unknown)}")
    rows = _conform_types(table, name).to_pylist()
    for i, row in enumerate(rows):
        flat = _flat(row)   # the configuration the pages will show: checked, then keyed
        _check_row(row, flat, f"{name}: row {i}")
        if not row["config_json"]:
            row["config_json"] = json.dumps(flat, sort_keys=True)
        row.update(identity_from_flat(flat))
    keys = [(r["sweep_id"], r["trial_id"]) for r in rows]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ResultsError(f"{name}: duplicate key sweep_id={dup[0]!r} trial_id={dup[1]!r}")
    existing = _sweep_ids(store)
    clash = sorted({k[0] for k in keys} & existing)
    if clash:   # a submission adds sweeps; it never replaces one
        raise ResultsError(f"{name}: sweep_id {clash[0]!r} is already in the store")
    _ensure_store(store)
    for (task, sweep_id), group in _groups(rows).items():
        part = pa.Table.from_pylist([{k: v for k, v in r.items() if k != "task"} for r in group],
                                    schema=TRIALS)
        _write_partition(store, "trials", task, sweep_id, part)
    return len(rows)


def _read(path: Path, max_rows: int) -> pa.Table:
    try:
        file = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ResultsError(f"{path.name}: not a readable Parquet file ({exc})") from None
    rows = file.metadata.num_rows
    if rows > max_rows:   # checked from the footer, before any row is read
        raise ResultsError(f"{path.name}: {rows} rows, more than the limit of {max_rows} "
                           "(raise it with --max-rows)")
    version = (file.schema_arrow.metadata or {}).get(VERSION_KEY)
    if version is None:
        raise ResultsError(f"{path.name}: no {VERSION_KEY.decode()} in its metadata; "
                           f"write schema version {SCHEMA_VERSION}")
    if parse_version(version, path.name) != SCHEMA_VERSION:
        raise ResultsError(f"{path.name}: schema version {int(version)}; the leaderboard takes version "
                           f"{SCHEMA_VERSION}")
    try:
        return file.read()
    except (OSError, pa.ArrowInvalid) as exc:
        raise ResultsError(f"{path.name}: not a readable Parquet file ({exc})") from None


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
    try:
        columns["task"] = table["task"].cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ResultsError(f"{name}: column task is {table['task'].type}, expected string") from None
    return pa.table(columns)


def _check_row(row: dict, flat: dict, where: str) -> None:
    """Every value of one row plausible, or a ResultsError naming the row, the column and the value."""
    def bad(column: str, rule: str) -> ResultsError:
        return ResultsError(f"{where}: {column} {row[column]!r} {rule}")

    try:
        for column in ("sweep_id", "trial_id", "optimizer"):
            check_name(column, row[column])
    except ConfigError as exc:
        raise ResultsError(f"{where}: {exc}") from None
    if row["task"] not in set(task_names()):
        raise ResultsError(f"{where}: unknown task {row['task']!r}")
    if row["status"] not in {s.value for s in Status}:
        raise bad("status", f"is not one of {', '.join(sorted(s.value for s in Status))}")
    for column in ("seed", "resumed_from_step", "steps_done", "param_count", "width", "depth"):   # 0: linear
        if row[column] is not None and row[column] < 0:
            raise bad(column, "must be >= 0")
    if row["seed"] is None:
        raise bad("seed", "must be a whole number >= 0")
    for column in ("steps", "epochs", "total_steps"):
        if row[column] is not None and row[column] < 1:
            raise bad(column, "must be >= 1")
    if None not in (row["steps_done"], row["total_steps"]) and row["steps_done"] > row["total_steps"]:
        raise bad("steps_done", f"is more than total_steps {row['total_steps']}")
    loss = row["final_loss"]
    if row["status"] in ("completed", "no_progress") and (loss is None or not math.isfinite(loss) or loss < 0):
        raise bad("final_loss", f"of a {row['status']} trial must be finite and >= 0")
    steps = row["steps_to_target"]
    if steps is None or not (steps == math.inf or (steps >= 1 and float(steps).is_integer())):
        raise bad("steps_to_target", "must be a whole number >= 1, or inf")
    if steps != math.inf and row["total_steps"] is not None and steps > row["total_steps"]:
        raise bad("steps_to_target", f"is more than total_steps {row['total_steps']}")
    seconds = row["seconds_to_target"]
    if seconds is None or not (seconds == math.inf or (math.isfinite(seconds) and seconds > 0)):
        raise bad("seconds_to_target", "must be finite and > 0, or inf for a missed target")
    if (steps == math.inf) != (seconds == math.inf):
        raise bad("seconds_to_target", f"must be inf exactly when steps_to_target is (it is {steps!r})")
    for column in ("train_time_s", "wall_time_s"):
        value = row[column]
        if (value is not None or column == "train_time_s") and not (value is not None and math.isfinite(value)
                                                                    and value > 0):
            raise bad(column, "must be finite and > 0")
    accuracy = row["final_test_accuracy"]
    if accuracy is not None and not (0 <= accuracy <= 1):
        raise bad("final_test_accuracy", "must be in [0, 1]")
    # The configuration the pages show and group by (config_json, else the columns) is the one checked:
    # each configuration column given agrees with it, and its hyperparameters are in range.
    for column in FLAT:
        if row[column] is not None and not _same(flat.get(column), row[column]):
            raise bad(column, f"disagrees with config_json's {column} {flat.get(column)!r}")
    hparams = optimizer_arguments(flat)
    try:
        if row["optimizer"] in OPTIMIZERS:   # one of ours: what it takes; another: only the ranges
            check_names(row["optimizer"], hparams, complete=False)
        check_hyperparameters(hparams)
    except ValueError as exc:
        raise ResultsError(f"{where}: {exc}") from None


def _same(claimed: object, column: object) -> bool:
    """A config_json value and a column's (typed by the schema: batch_size a string, numbers as numbers)."""
    if isinstance(claimed, (int, float)) and not isinstance(claimed, bool) and isinstance(column, (int, float)):
        return float(claimed) == float(column)
    return str(claimed) == str(column)


def _sweep_ids(store: str) -> set[str]:
    """The sweep ids already in any table of the store (file names; no file is read)."""
    fs, root = filesystem(normalise(store))
    found = set()
    for table in TABLES:
        try:
            infos = fs.get_file_info(pafs.FileSelector(f"{root}/{table}", recursive=True, allow_not_found=True))
        except OSError:
            continue
        found |= {PurePosixPath(i.path).stem for i in infos if i.type == pafs.FileType.File}
    return found


FLAT = ("task", *(name for name, _ in CONFIG_COLUMNS))   # a trial's flat configuration, as columns


def _flat(row: dict) -> dict:
    """The row's flat configuration: its config_json when it is a JSON object, else its columns."""
    try:
        flat = json.loads(row["config_json"]) if row["config_json"] else None
    except json.JSONDecodeError:
        flat = None
    if not isinstance(flat, dict):
        flat = {k: row.get(k) for k in FLAT if row.get(k) is not None}
    return {**flat, "task": row["task"], "optimizer": row["optimizer"]}


def _groups(rows: list[dict]) -> dict[tuple[str, str], list[dict]]:
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["task"], row["sweep_id"]), []).append(row)
    return groups


__all__ = ["MAX_ROWS", "add_submission"]
