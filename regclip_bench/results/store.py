"""Aggregate a sweep's trial files into the store, and read the store back.

    STORE/_schema.json                                {"schema_version": 2}
    STORE/<table>/task=<task>/<sweep_id>.parquet

Partitioned (hive style) by task.  One file per (table, task, sweep), rewritten whole by each aggregation of that sweep:
aggregating twice adds no rows, two aggregations of different sweeps touch different
files, and sweeps from other machines (other sweep ids) land beside each other.  Every
file is written under a name starting with "." and renamed into place, so readers
(which skip dot-files) never see half of one.
"""

from __future__ import annotations

import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..errors import ConfigError, check_name
from ..storage import filesystem, finished_keys, is_uri, join, normalise, read_json, write_all, write_bytes
from ..trial_io import decode_metadata
from ..identity import identity_from_flat
from .schema import (CONFIG_COLUMNS, IDENTITY_COLUMNS, PARTITION, SCHEMA_VERSION, SCHEMAS, SUMMARY_COLUMNS, TABLES,
                     VERSION_KEY)


class ResultsError(ConfigError):
    """A store or trial file that cannot be read: named, with the reason."""


@dataclass
class Aggregated:
    sweep_id: str
    task: str
    trials: int
    rows: dict[str, int]


def aggregate(sweep_dir: str, store: str) -> Aggregated:
    """Gather `sweep_dir`'s finished trials (local path or URI) into `store`."""
    sweep_dir, store = normalise(sweep_dir), normalise(store)
    manifest = _read_manifest(sweep_dir)
    sweep_id = manifest["sweep_id"]
    fs, trials_path = filesystem(join(sweep_dir, "trials"))
    files = sorted(info.path for info in fs.get_file_info(pafs.FileSelector(trials_path, allow_not_found=True))
                   if info.type == pafs.FileType.File and info.path.endswith(".parquet"))
    columns: dict[str, dict[str, list]] = {name: {f.name: [] for f in SCHEMAS[name]} for name in TABLES}
    step_tables = []
    tasks = set()
    with ThreadPoolExecutor(8) as pool:  # Parquet decoding releases the GIL
        for path, (table, summary, evals) in zip(files, pool.map(lambda p: _read_trial_file(fs, p), files)):
            trial_id = PurePosixPath(path).stem
            tasks.add(summary["config"]["task"])
            step_tables.append(_conform(table, SCHEMAS["steps"], sweep_id=sweep_id, trial_id=trial_id))
            _append_rows(columns["evals"], evals, sweep_id, trial_id)
            _append_rows(columns["trials"], [_trial_row(summary, trial_id)], sweep_id, trial_id)
    if len(tasks) > 1:
        raise ResultsError(f"{sweep_dir}: trials of several tasks ({', '.join(sorted(tasks))}) in one sweep")
    task = tasks.pop() if tasks else manifest["runs"][0].get("task", "unknown") if manifest["runs"] else "unknown"
    columns["sweeps"] = {
        "sweep_id": [sweep_id], "name": [manifest.get("name")],
        "modes": [",".join(sorted({run.get("mode", "grid") for run in manifest["runs"]}))],
        "n_trials": [len(files)],
        "first_started": [manifest["runs"][0]["started"] if manifest["runs"] else None],
        "last_finished": [max((r["finished"] for r in manifest["runs"] if r.get("finished")), default=None)],
        "aggregated": [time.strftime("%Y-%m-%dT%H:%M:%S%z")],
        "runs_json": [json.dumps(manifest["runs"], default=str)]}

    _ensure_store(store)
    rows, files_out = {}, []
    for name in TABLES:  # trials last: a reader that starts from trials sees complete sweeps
        if name == "steps":
            table = pa.concat_tables(step_tables) if step_tables else SCHEMAS[name].empty_table()
        else:
            table = pa.Table.from_pydict(columns[name], schema=SCHEMAS[name])
        files_out.append(_partition_file(store, name, task, sweep_id, table))
        rows[name] = table.num_rows
    write_all(files_out)   # all four tables of the sweep, or none (a full disk leaves the store as it was)
    return Aggregated(sweep_id, task, len(files), rows)


def trial_rows(sweep_dir: str, keys: list[str]) -> pd.DataFrame:
    """The trials-table rows of the finished trials `keys` of a sweep folder, read from their files
    (what the protocol selects on before the sweep is aggregated)."""
    fs, trials_path = filesystem(join(normalise(sweep_dir), "trials"))
    done = finished_keys(sweep_dir)
    rows = []
    for key in keys:
        if key in done:
            path = f"{trials_path}/{key}.parquet"
            try:
                summary = _footer_summary(fs, path)
            except (pa.ArrowInvalid, OSError, KeyError, ValueError):
                raise ResultsError(f"{path}: not a readable regclip-bench trial file") from None
            rows.append({"sweep_id": "", "trial_id": key, **_trial_row(summary, key)})
    return pd.DataFrame(rows)


def damaged_trial_files(sweep_dir: str) -> list[str]:
    """The entries of a sweep's trials/ folder with a trial file's name that are not readable trial files
    (truncated, empty, a folder): counted as finished, their trials would never run again."""
    fs, trials_path = filesystem(join(normalise(sweep_dir), "trials"))
    damaged = []
    for info in fs.get_file_info(pafs.FileSelector(trials_path, allow_not_found=True)):
        name = info.path.rsplit("/", 1)[-1]
        if name.startswith(".") or not name.endswith(".parquet"):
            continue
        try:
            if info.type != pafs.FileType.File:
                raise IsADirectoryError(info.path)
            _footer_summary(fs, info.path)
        except (pa.ArrowInvalid, OSError, KeyError, ValueError):
            damaged.append(info.path)
    return sorted(damaged)


def _footer_summary(fs: pafs.FileSystem, path: str) -> dict[str, Any]:
    """A trial file's summary, read from its Parquet footer alone (no step rows)."""
    with fs.open_input_file(path) as handle:
        return decode_metadata(pq.read_schema(handle))[0]


def _read_manifest(sweep_dir: str) -> dict[str, Any]:
    try:
        manifest = read_json(join(sweep_dir, "sweep.json"))
    except FileNotFoundError:
        raise ResultsError(f"{sweep_dir}: not a sweep (no sweep.json)") from None
    except ValueError as exc:
        raise ResultsError(f"{sweep_dir}/sweep.json: not valid JSON ({exc})") from None
    if "sweep_id" not in manifest:
        raise ResultsError(f"{sweep_dir}/sweep.json: no sweep_id (written by an older regclip-bench)")
    return manifest


def _read_trial_file(fs: pafs.FileSystem, path: str) -> tuple[pa.Table, dict, list]:
    try:
        with fs.open_input_file(path) as handle:
            table = pq.read_table(handle)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ResultsError(f"{path}: not a readable Parquet file ({exc})") from None
    try:
        return (table, *decode_metadata(table))
    except KeyError:
        raise ResultsError(f"{path}: not a regclip-bench trial file (no summary in its metadata)") from None


def _conform(table: pa.Table, schema: pa.Schema, **constants: str) -> pa.Table:
    """`table` in `schema`'s columns and types: `constants` fill whole columns; missing ones are null."""
    n = table.num_rows
    return pa.Table.from_arrays(
        [pa.array([constants[f.name]] * n, f.type) if f.name in constants else
         table[f.name].cast(f.type) if f.name in table.column_names else pa.nulls(n, f.type) for f in schema],
        schema=schema)


def _append_rows(columns: dict[str, list], rows: list[dict], sweep_id: str, trial_id: str) -> None:
    for row in rows:
        for name, values in columns.items():
            if name == "sweep_id":
                values.append(sweep_id)
            elif name == "trial_id":
                values.append(trial_id)
            else:
                value = row.get(name)
                values.append(float(value) if value in ("inf", "-inf", "nan") else value)


def _trial_row(summary: dict[str, Any], trial_id: str) -> dict[str, Any]:
    config = summary["config"]
    row: dict[str, Any] = {"config_hash": trial_id, "config_json": json.dumps(config, sort_keys=True),
                           "result_source": "suite"}
    # Trial files written before identities were recorded get them from their flat configuration.
    identity = summary if "workload_key" in summary else identity_from_flat(config)
    row.update({name: identity[name] for name, _ in IDENTITY_COLUMNS})
    for name, kind in CONFIG_COLUMNS:
        value = config.get(name)
        row[name] = None if value is None else str(value) if kind == pa.string() else value
    for name, kind in SUMMARY_COLUMNS:
        if name == "result_source":
            continue
        value = summary.get(name)
        if kind == pa.int64() and isinstance(value, float):
            value = None if not math.isfinite(value) else int(value)
        row[name] = value
    return row


def store_version(store: str) -> int | None:
    """The version in STORE/_schema.json; None where no store is there yet."""
    store = normalise(store)
    fs, path = filesystem(join(store, "_schema.json"))
    try:
        with fs.open_input_stream(path) as stream:
            raw = stream.read()
    except FileNotFoundError:
        return None
    except OSError as exc:   # the store's path is a file, or unreadable
        raise ResultsError(f"{store}: cannot be a store ({exc.strerror or type(exc).__name__})") from None
    try:
        version = json.loads(raw).get("schema_version")
    except (ValueError, AttributeError):
        version = None
    if not isinstance(version, int) or isinstance(version, bool):
        raise ResultsError(f"{store}/_schema.json: not a regclip-bench store's schema file "
                           "(expected JSON with an integer schema_version)")
    return version


def parse_version(raw: bytes, where: str) -> int:
    """A file's regclip_bench.schema_version metadata as a number, or a named error."""
    try:
        return int(raw)
    except ValueError:
        raise ResultsError(f"{where}: schema version {raw.decode(errors='replace')!r} is not a number") from None


def _ensure_store(store: str) -> None:
    store = normalise(store)
    found = store_version(store)
    if found is None:
        try:
            write_bytes(join(store, "_schema.json"), json.dumps({"schema_version": SCHEMA_VERSION}).encode())
        except OSError as exc:
            raise ResultsError(f"{store}: cannot be a store ({exc.strerror or type(exc).__name__})") from None
        return
    if found != SCHEMA_VERSION:
        raise ResultsError(f"{store}: a store of schema version {found}; this regclip-bench writes "
                           f"version {SCHEMA_VERSION} — {_version_advice(store, found)}")


def _version_advice(store: str, found: int) -> str:
    """What to do with a store of another schema version (one home for the sentence)."""
    if found == 1:
        return f"write it as version {SCHEMA_VERSION} once: regclip-bench migrate {store} --into NEW_STORE"
    if found > SCHEMA_VERSION:
        return "a newer regclip-bench wrote it: use that one, or aggregate these sweeps into a new store"
    return "aggregate its sweeps into a new store"


def _partition_file(store: str, table_name: str, task: str, sweep_id: str, table: pa.Table) -> tuple[str, bytes]:
    """Where a table's partition of one sweep goes (never outside the store) and its Parquet bytes."""
    check_name("task", task)
    check_name("sweep_id", sweep_id)
    store = normalise(store)
    path = join(store, table_name, f"{PARTITION}={task}", f"{sweep_id}.parquet")
    if not is_uri(store) and Path(store).resolve() not in Path(path).resolve().parents:
        raise ResultsError(f"sweep_id {sweep_id!r}: would be written outside the store {store}")
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata({VERSION_KEY: str(SCHEMA_VERSION)}), sink)
    return path, sink.getvalue().to_pybytes()


def load(store: str, table: str, filters: dict[str, Any] | ds.Expression | None = None) -> pd.DataFrame:
    """One table of the store as a DataFrame; `filters` maps columns to a value or a list of values
    (or is a pyarrow.dataset expression).  Partitions on task are pruned.  A column added to version 2
    after a file was written reads as null in it."""
    if table not in TABLES:
        raise ResultsError(f"unknown table {table!r}; the store has: {', '.join(TABLES)}")
    dataset = _dataset(normalise(store), table)
    expression = _expression(filters) if isinstance(filters, dict) else filters
    return dataset.to_table(filter=expression).to_pandas()


def _dataset(store: str, table: str, version: int = SCHEMA_VERSION, schema: pa.Schema | None = None) -> ds.Dataset:
    """One table of a store of schema `version` (this package's; `migrate` reads version 1 with its own
    `schema`), every file checked first."""
    fs, root = filesystem(store)
    found = store_version(store)
    if found is None:
        raise ResultsError(f"{store}: not a regclip-bench store (no _schema.json)")
    if found != version:
        raise ResultsError(f"{store}: a store of schema version {found}; this regclip-bench reads version "
                           f"{version} — {_version_advice(store, found)}")
    schema = (schema or SCHEMAS[table]).append(pa.field(PARTITION, pa.string()))
    folder = f"{root}/{table}"
    partitioning = ds.partitioning(pa.schema([(PARTITION, pa.string())]), flavor="hive")
    try:
        dataset = ds.dataset(folder, filesystem=fs, format="parquet", partitioning=partitioning,
                             schema=schema, exclude_invalid_files=False)
    except FileNotFoundError:
        return ds.dataset(schema.empty_table())
    problems = _check_layout(fs, folder)
    for fragment in dataset.get_fragments():
        problems += _check_fragment(fs, fragment.path, version, schema)
    if problems:   # every damaged file at once, not one per run
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ResultsError(f"{store}: {len(problems)} damaged {'entry' if len(problems) == 1 else 'entries'} "
                           f"in its {table} table: {shown}")
    return dataset


def _check_layout(fs: pafs.FileSystem, folder: str) -> list[str]:
    """A table is folders task=<name>, each holding <sweep id>.parquet files (dot- and _-names are a
    writer's temporary files, skipped by every reader): anything else is named, never read past — a
    folder with a sweep file's name would hide that sweep, and a task name read from a folder becomes
    a path (`report`), so it is checked like a name typed on the command line."""
    problems: dict[str, str] = {}   # the damaged entry's relative path → what is wrong (its contents unnamed)
    for info in sorted(fs.get_file_info(pafs.FileSelector(folder, recursive=True)), key=lambda i: i.path):
        relative = info.path[len(folder) + 1:]
        parts = relative.split("/")
        if any(part.startswith((".", "_")) for part in parts) or any(relative.startswith(f"{p}/") for p in problems):
            continue
        key, _, value = parts[0].partition("=")
        if len(parts) == 1 and (info.type != pafs.FileType.Directory or key != PARTITION or not _valid(value)):
            problems[relative] = f"{info.path}: not a {PARTITION}=<name> folder"
        elif len(parts) == 2 and (info.type != pafs.FileType.File or not parts[1].endswith(".parquet")
                                  or not _valid(parts[1][:-len(".parquet")])):
            problems[relative] = f"{info.path}: not a <sweep id>.parquet file"
    return list(problems.values())


def _valid(name: str) -> bool:
    try:
        check_name("name", name)
    except ConfigError:
        return False
    return True


def _check_fragment(fs: pafs.FileSystem, path: str, expected: int, schema: pa.Schema) -> list[str]:
    """What is wrong with one file of a table (nothing: an empty list), read from its footer."""
    try:
        with fs.open_input_file(path) as handle:
            found = pq.read_schema(handle)
            metadata = found.metadata or {}
    except (pa.ArrowInvalid, OSError) as exc:
        return [f"{path}: not a readable Parquet file ({str(exc).splitlines()[0][:120]})"]
    if VERSION_KEY not in metadata:
        return [f"{path}: not written by regclip-bench (no schema version); remove it"]
    try:
        version = parse_version(metadata[VERSION_KEY], path)
    except ResultsError as exc:
        return [str(exc)]
    if version != expected:
        return [f"{path}: schema version {version} in a store of version {expected}; "
                "re-aggregate its sweep into a new store"]
    wrong = [f for f in found if f.name in schema.names and schema.field(f.name).type != f.type]
    return [f"{path}: column {f.name} is {f.type}, not {schema.field(f.name).type}" for f in wrong[:1]]


def _expression(filters: dict[str, Any]) -> ds.Expression | None:
    expression = None
    for column, value in filters.items():
        term = ds.field(column).isin(value) if isinstance(value, (list, tuple, set)) else ds.field(column) == value
        expression = term if expression is None else expression & term
    return expression
