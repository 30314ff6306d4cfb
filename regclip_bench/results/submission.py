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
from ..spec import MAX_SEED, task_names
from ..storage import filesystem, normalise, write_all
from ..summary import Status
from .schema import CONFIG_COLUMNS, SCHEMA_VERSION, TABLES, TRIALS, VERSION_KEY
from .store import ResultsError, _ensure_store, _partition_file, parse_version

REQUIRED = ("sweep_id", "trial_id", "task", "optimizer", "seed", "status", "final_loss",
            "steps_to_target", "seconds_to_target", "train_time_s", "git_commit", "torch_version")
MAX_ROWS = 100_000


def add_submission(store: str, path: str | Path, max_rows: int = MAX_ROWS) -> int:
    """Validate `path` and add its trials to `store` as new sweep(s); return the number of trials
    added.  Nothing is written unless every row passes.  Rows are checked BATCH at a time and kept as
    Arrow tables: memory grows with the file's size, not with Python objects per row."""
    name = Path(path).name
    file = _open(Path(path), max_rows)
    missing = [c for c in REQUIRED if c not in file.schema_arrow.names]
    if missing:
        raise ResultsError(f"{name}: missing required column(s): {', '.join(missing)}")
    unknown = sorted(set(file.schema_arrow.names) - set(TRIALS.names) - {"task"})
    if unknown:
        raise ResultsError(f"{name}: unknown column(s): {', '.join(unknown)}")
    parameters = _ParameterCounts(store)
    groups: dict[tuple[str, str], list[pa.Table]] = {}
    seen: set[str] = set()
    first = 0
    try:
        batches = file.iter_batches(batch_size=BATCH)
        for batch in batches:
            rows = _conform_types(pa.Table.from_batches([batch]), name).to_pylist()
            for i, row in enumerate(rows, start=first):
                _check_submitted(row, f"{name}: row {i}", parameters)
                if row["trial_id"] in seen:   # one trial once: a second row of it is not another seed
                    raise ResultsError(f"{name}: row {i}: trial_id {row['trial_id']!r} appears twice")
                seen.add(row["trial_id"])
            for (task, sweep_id), group in _groups(rows).items():
                groups.setdefault((task, sweep_id), []).append(pa.Table.from_pylist(
                    [{k: v for k, v in r.items() if k != "task"} for r in group], schema=TRIALS))
            first += len(rows)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ResultsError(f"{name}: not a readable Parquet file ({str(exc).splitlines()[0][:120]})") from None
    clash = sorted({sweep_id for _, sweep_id in groups} & _sweep_ids(store))
    if clash:   # a submission adds sweeps; it never replaces one
        raise ResultsError(f"{name}: sweep_id {clash[0]!r} is already in the store")
    _ensure_store(store)
    write_all([_partition_file(store, "trials", task, sweep_id, pa.concat_tables(parts))   # all or none
               for (task, sweep_id), parts in groups.items()])
    return first


BATCH = 10_000


def _check_submitted(row: dict, where: str, parameters: "_ParameterCounts") -> None:
    """One submitted row checked and completed in place: its configuration (config_json, else its
    columns) checked and keyed here, its parameter count the model's, its trial id the key."""
    flat = _check_row(row, _flat(row, where), where)
    row["config_json"] = json.dumps(flat, sort_keys=True)
    row.update(identity_from_flat(flat), result_source="submitted")
    for column in FLAT:   # the configuration columns say what config_json says, defaults included
        if row.get(column) is None and flat.get(column) is not None:
            row[column] = str(flat[column]) if column == "batch_size" else flat[column]
    expected = parameters.of(row["workload_key"], flat, where)
    if row["param_count"] is not None and row["param_count"] != expected:
        raise ResultsError(f"{where}: param_count {row['param_count']!r} is not its model's ({expected:,} for "
                           f"{row['workload']})")
    row["param_count"] = expected
    key = seeded_key(row["config_key"], row["seed"])
    if row["trial_id"] != key:
        raise ResultsError(f"{where}: trial_id {row['trial_id']!r} is not the key of its configuration "
                           f"and seed ({key}); write the file with regclip_bench.results.write_submission")


class _ParameterCounts:
    """A workload's parameter count: the store's, where the suite ran it, else its model's, built on the
    meta device (nothing allocated) over its data's shape — a submitted row never says what its model is."""

    def __init__(self, store: str) -> None:
        self.store, self.known = store, None

    def of(self, workload_key: str, flat: dict, where: str) -> int:
        if self.known is None:
            from .store import load, store_version
            self.known = {}
            if store_version(self.store) is not None:
                trials = load(self.store, "trials")
                suite = trials[trials["result_source"].ne("submitted")] if "result_source" in trials else trials
                self.known = dict(zip(suite["workload_key"], suite["param_count"].astype(int)))
        if workload_key not in self.known:
            self.known[workload_key] = _model_parameters(flat, where)
        return self.known[workload_key]


def _model_parameters(flat: dict, where: str) -> int:
    import torch

    from ..data import load_data
    from ..identity import flat_task
    from ..memory import parameter_count
    task, _ = flat_task(flat)
    try:
        data = load_data(task.data, torch.device("cpu"))
    except ConfigError as exc:
        raise ResultsError(f"{where}: a workload the suite has not run, and its data cannot be loaded here "
                           f"to check its model ({exc})") from None
    return parameter_count(task, data)


def _open(path: Path, max_rows: int) -> pq.ParquetFile:
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
    return file


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
    for column, value in row.items():   # every number in its range (RANGES), before the rules between columns
        problem = number_problem(column, value, row["status"])
        if problem:
            raise bad(column, problem)
    if row["seed"] is None:
        raise bad("seed", "must be a whole number >= 0")
    if None not in (row["steps_done"], row["total_steps"]) and row["steps_done"] > row["total_steps"]:
        raise bad("steps_done", f"is more than total_steps {row['total_steps']}")
    loss = row["final_loss"]
    if row["status"] in ("completed", "no_progress") and (loss is None or not math.isfinite(loss)):
        raise bad("final_loss", f"of a {row['status']} trial must be finite and >= 0")
    steps = row["steps_to_target"]
    if steps is None or not (steps == math.inf or float(steps).is_integer()):
        raise bad("steps_to_target", "must be a whole number >= 1, or inf")
    if steps != math.inf and row["total_steps"] is not None and steps > row["total_steps"]:
        raise bad("steps_to_target", f"is more than total_steps {row['total_steps']}")
    seconds = row["seconds_to_target"]
    if seconds is None:
        raise bad("seconds_to_target", "must be finite and > 0, or inf for a missed target")
    if (steps == math.inf) != (seconds == math.inf):
        raise bad("seconds_to_target", f"must be inf exactly when steps_to_target is (it is {steps!r})")
    if row["train_time_s"] is None:
        raise bad("train_time_s", "must be finite and > 0")
    # The configuration the pages show and group by (config_json, else the columns) is the one checked:
    # each configuration column given agrees with it, and its hyperparameters are in range.
    for column in FLAT:
        if row[column] is not None and not _same(flat.get(column), row[column]):
            raise bad(column, f"disagrees with config_json's {column} {flat.get(column)!r}")
    return complete_configuration(flat, where)


# The range of every numeric column of a trials row, as the suite writes it: (least, most, whether the least
# is allowed).  Finite everywhere, but where the suite itself writes a non-finite value: NaN for "not
# measured" (UNMEASURED), inf for a target never reached (MISSED), NaN or +inf at a diverged trial's end
# (DIVERGED).  A column not listed is a finite number >= 0 (losses, norms, rates, times, counts).
_BIG = 1e300
RANGES = {
    "seed": (0, MAX_SEED, True), "width": (0, 65_536, True), "depth": (0, 1_024, True),
    "steps": (1, 10**9, True), "epochs": (1, 10**9, True), "total_steps": (1, 10**12, True),
    "steps_done": (0, 10**12, True), "resumed_from_step": (0, 10**12, True), "param_count": (0, 10**13, True),
    "steps_to_target": (1, 10**12, True), "seconds_to_target": (0, _BIG, False), "train_time_s": (0, _BIG, False),
    "wall_time_s": (0, _BIG, False), "pack_train_time_s": (0, _BIG, False),
    "loss_log_slope": (-_BIG, _BIG, True),
    **{c: (0, 1, True) for c in ("frac_unclipped", "frac_clipped", "frac_floor", "loss_rate_r2",
                                 "loss_rate_second_half_r2", "initial_test_accuracy", "final_test_accuracy")},
}
HYPERPARAMETERS = frozenset(name for name, _ in CONFIG_COLUMNS) - NOT_HYPERPARAMETERS
UNMEASURED = ("frac_unclipped", "frac_clipped", "frac_floor", "max_rel_dist_from_init", "final_rel_dist_from_init")
MISSED = ("steps_to_target", "seconds_to_target")
DIVERGED = ("final_loss", "final_train_loss", "final_test_loss", "final_test_accuracy", "final_excess_risk",
            "final_pl_ratio", "final_rel_dist_from_init", "loss_log_slope", "loss_rate", "loss_rate_r2",
            "loss_rate_second_half", "loss_rate_second_half_r2")


def number_problem(column: str, value: object, status: object) -> str | None:
    """What is wrong with `value` in `column` of a trials row (None: nothing; None values are missing)."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if math.isnan(value):
        return None if column in UNMEASURED or (column in DIVERGED and status == "diverged") else \
            "must be a number (NaN only where the suite writes it)"
    if math.isinf(value):
        if value > 0 and (column in MISSED or (column in DIVERGED and status == "diverged")):
            return None
        return "must be finite"
    if column in HYPERPARAMETERS:   # their ranges are the optimizer registry's (complete_configuration)
        return None
    least, most, inclusive = RANGES.get(column, (0, _BIG, True))
    if (least, most) == (0, 1) and not 0 <= value <= 1:
        return "must be in [0, 1]"
    if value < least or (value == least and not inclusive):
        return f"must be {'>=' if inclusive else '>'} {least:g}"
    return f"must be <= {most:,}" if value > most else None


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


MAX_CONFIG_JSON = 4_096   # characters: the suite's own are under 300


def _flat(row: dict, where: str) -> dict:
    """The row's flat configuration: its config_json (a JSON object of at most MAX_CONFIG_JSON characters
    whose values are numbers, strings, booleans or null, and a schedule), else its columns."""
    text = row.get("config_json")
    if text is None:
        flat = {k: row.get(k) for k in FLAT if row.get(k) is not None}
    else:
        if len(text) > MAX_CONFIG_JSON:
            raise ResultsError(f"{where}: config_json has {len(text):,} characters, more than {MAX_CONFIG_JSON:,}")
        try:
            flat = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise ResultsError(f"{where}: config_json {text[:40]!r}: not JSON") from None
        if not isinstance(flat, dict):
            raise ResultsError(f"{where}: config_json {text[:40]!r}: not a JSON object")
        nested = [k for k, v in flat.items() if isinstance(v, (dict, list)) and k != "schedule"]
        if nested:
            raise ResultsError(f"{where}: config_json's {nested[0]!r} is not a number, text, boolean or null")
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
        where = f"{path.name}: row {i}"
        flat = complete_configuration(_flat({k: row.get(k) for k in (*FLAT, "config_json")}, where), where)
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
