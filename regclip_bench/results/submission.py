"""External results for the leaderboard: a Parquet file of `trials` rows, checked before it lands.

A submission must be schema version 2, have the trials table's columns with their types,
plausible values, keys unique in itself and new to the store, and a task the suite knows.
It is added as its own sweep(s) in the store, with its provenance columns as submitted and
`result_source` "submitted" (the leaderboard shows such rows apart, never beside or instead of
a trial the suite ran); its workload and configuration keys are computed here from its
configuration, never taken from it, and its trial ids must be those the configuration and seed
give.  `write_submission` writes such a file from a DataFrame, keys and metadata included.

Nothing here imports an optimizer's code: a built-in's hyperparameters are completed and checked by
its registry entry, any other name's against the shared vocabulary's ranges.
"""

from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..errors import ConfigError, check_name
from ..identity import NOT_HYPERPARAMETERS, identity_from_flat, optimizer_arguments, seeded_key
from ..optim.base import Hyperparameter
from ..optim.registry import OPTIMIZERS
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
        flat = _flat(row)   # the configuration the pages will show: checked, completed, then keyed
        flat = _check_row(row, flat, f"{name}: row {i}")
        row["config_json"] = json.dumps(flat, sort_keys=True)
        row.update(identity_from_flat(flat), result_source="submitted")
        for column in FLAT:   # the configuration columns say what config_json says, defaults included
            if row.get(column) is None and flat.get(column) is not None:
                row[column] = str(flat[column]) if column == "batch_size" else flat[column]
        expected = seeded_key(row["config_key"], row["seed"])
        if row["trial_id"] != expected:
            raise ResultsError(f"{name}: row {i}: trial_id {row['trial_id']!r} is not the key of its configuration "
                               f"and seed ({expected}); write the file with regclip_bench.results.write_submission")
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


def _check_row(row: dict, flat: dict, where: str) -> dict:
    """Every value of one row plausible, or a ResultsError naming the row, the column and the value;
    returns its configuration, completed (`complete_configuration`)."""
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
    for column in (c for c in row if c.startswith(("initial_", "final_")) and isinstance(row[c], float)):
        if math.isinf(row[column]) or (row[column] < 0 and not column.endswith(("elbo", "accuracy"))):
            raise bad(column, "must be finite and >= 0 (or missing)")
    accuracy = row["final_test_accuracy"]
    if accuracy is not None and not (0 <= accuracy <= 1):
        raise bad("final_test_accuracy", "must be in [0, 1]")
    # The configuration the pages show and group by (config_json, else the columns) is the one checked:
    # each configuration column given agrees with it, and its hyperparameters are in range.
    for column in FLAT:
        if row[column] is not None and not _same(flat.get(column), row[column]):
            raise bad(column, f"disagrees with config_json's {column} {flat.get(column)!r}")
    return complete_configuration(flat, where)


def complete_configuration(flat: dict, where: str) -> dict:
    """`flat` with a built-in optimizer's every hyperparameter (its defaults filled in, as the suite's
    own trials have them), each checked; another optimizer's checked against the vocabulary's ranges."""
    hparams = optimizer_arguments(flat)
    entry = OPTIMIZERS.get(flat["optimizer"])
    try:
        if entry is not None:
            return {**{k: v for k, v in flat.items() if k in NOT_HYPERPARAMETERS | {"schedule"}},
                    **entry.resolve(hparams)}
        for key, value in hparams.items():
            kind = bool if isinstance(value, bool) else float
            Hyperparameter.of(key, kind=kind).check(value)
    except ValueError as exc:
        raise ResultsError(f"{where}: {exc}") from None
    return flat


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


def write_submission(frame, path: str | Path) -> Path:
    """Write `frame` (a pandas DataFrame of trials rows: at least the required columns and each trial's
    configuration, as columns or as config_json) as a results file that `leaderboard --add` takes: the
    configuration completed and checked, `trial_id` computed from it and the seed, the schema's types
    and version.  Rows that would be refused raise the ResultsError `--add` would give."""
    path = Path(path)
    rows = []
    for i, raw in enumerate(frame.to_dict("records")):
        row = {k: None if isinstance(v, float) and math.isnan(v) and k not in _METRIC_LIKE else v
               for k, v in raw.items()}
        row.setdefault("config_json", None)
        flat = complete_configuration(_flat({k: row.get(k) for k in (*FLAT, "config_json")}), f"{path.name}: row {i}")
        row["config_json"] = json.dumps(flat, sort_keys=True)
        row["trial_id"] = seeded_key(identity_from_flat(flat)["config_key"], row["seed"])
        rows.append(row)
    unknown = sorted({k for r in rows for k in r} - set(TRIALS.names) - {"task"})
    if unknown:
        raise ResultsError(f"{path.name}: unknown column(s): {', '.join(unknown)}")
    table = _conform_types(pa.Table.from_pylist(rows), path.name)
    pq.write_table(table.replace_schema_metadata({VERSION_KEY: str(SCHEMA_VERSION)}), path)
    return path


_METRIC_LIKE = ("final_loss", "best_loss")   # NaN is a value there (a diverged trial's), not a missing field


__all__ = ["MAX_ROWS", "add_submission", "write_submission"]
