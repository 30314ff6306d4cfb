"""`regclip-bench migrate OLD --into NEW`: a store of schema version 1 written again as version 2, once.

The package reads and writes version 2 only; this module is the one place that knows version 1: the
columns it lacked (null in the new store) and the trials' workload and configuration keys, which version 1
did not record and which are computed here from each trial's flat configuration
(`identity.identity_from_flat`, as a submitted results file's are).  The new store is written all or
nothing, its `_schema.json` last; the old one is only read."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from ..identity import identity_from_flat
from ..storage import filesystem, join, normalise, write_all, write_bytes
from .schema import IDENTITY_COLUMNS, PARTITION, SCHEMA_VERSION, SCHEMAS, TABLES
from .store import ResultsError, _conform, _dataset, _partition_file, store_version

# What version 2 added; a version-1 file has every other column.
ADDED_IN_2 = {"steps": {"rel_dist_from_init", "sharpness", "sharpness_limit", "sharpness_floor_limit",
                        "update_norm", "effective_step"},
              "evals": set(), "sweeps": set(),
              "trials": {name for name, _ in IDENTITY_COLUMNS} | {
                  "initial_loss", "loss_rate_r2", "loss_rate_second_half", "loss_rate_second_half_r2",
                  "final_pl_ratio", "w0_norm", "max_rel_dist_from_init", "final_rel_dist_from_init",
                  "initial_test_loss", "initial_test_accuracy", "initial_test_elbo", "final_train_loss",
                  "initial_excess_risk", "final_excess_risk", "pack", "beta1", "beta2", "eps", "nesterov",
                  "optimizer_origin", "optimizer_sha256", "optimizer_packages", "result_source",
                  "pack_train_time_s"}}


def migrate(old: str, new: str) -> dict[str, int]:
    """Write the version-1 store `old` as a version-2 store `new` (a folder or URI with nothing in it);
    the rows of each table."""
    old, new = normalise(old), normalise(new)
    found = store_version(old)
    if found is None:
        raise ResultsError(f"{old}: not a regclip-bench store (no _schema.json)")
    if found != 1:
        raise ResultsError(f"{old}: a store of schema version {found}; only version 1 is migrated")
    fs, path = filesystem(new)
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.File or (kind == pafs.FileType.Directory and fs.get_file_info(pafs.FileSelector(path))):
        raise ResultsError(f"--into {new}: not an empty folder; migrate into a new one")
    files, rows = [], {}
    for table in TABLES:
        version_1 = pa.schema([f for f in SCHEMAS[table] if f.name not in ADDED_IN_2[table]])
        read = _dataset(old, table, 1, version_1).to_table()
        read = _conform(read, SCHEMAS[table].append(pa.field(PARTITION, pa.string())))
        if table == "trials" and read.num_rows:
            read = _with_identities(read)
        rows[table] = read.num_rows
        for task in sorted(set(read[PARTITION].to_pylist())):
            of_task = read.filter(pc.equal(read[PARTITION], task))
            for sweep_id in sorted(set(of_task["sweep_id"].to_pylist())):
                part = of_task.filter(pc.equal(of_task["sweep_id"], sweep_id)).drop_columns([PARTITION])
                files.append(_partition_file(new, table, task, sweep_id, part))
    write_all(files)
    write_bytes(join(new, "_schema.json"), json.dumps({"schema_version": SCHEMA_VERSION}).encode())
    return rows


def _with_identities(trials: pa.Table) -> pa.Table:
    cache: dict[str, dict[str, str]] = {}
    identities = [cache.setdefault(c, identity_from_flat(json.loads(c))) for c in trials["config_json"].to_pylist()]
    for column, _ in IDENTITY_COLUMNS:
        trials = trials.set_column(trials.schema.get_field_index(column), column,
                                   pa.array([i[column] for i in identities], pa.string()))
    return trials

