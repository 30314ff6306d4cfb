"""A single trial's output as one Parquet file: step rows, with the summary in the metadata."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

SUMMARY_KEY = b"regclip_bench.summary"
EVALS_KEY = b"regclip_bench.evals"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # "inf", "nan": JSON has no literal for them
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def trial_table(result: dict[str, Any]) -> pa.Table:
    """The step rows as a table; the summary and the evaluations in its metadata."""
    summary = {k: v for k, v in result.items() if k not in ("steps", "evals")}
    table = pa.Table.from_pylist(result["steps"]) if result["steps"] else pa.table({"step": pa.array([], pa.int64())})
    return table.replace_schema_metadata({SUMMARY_KEY: json.dumps(_jsonable(summary)),
                                          EVALS_KEY: json.dumps(_jsonable(result["evals"]))})


def write_trial(path: str | Path, result: dict[str, Any]) -> Path:
    """Write atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    table = trial_table(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_trial(path: str | Path) -> tuple[pa.Table, dict[str, Any], list[dict[str, Any]]]:
    """(step rows, summary, eval rows) of a file written by `write_trial`."""
    table = pq.read_table(path)
    return (table, *decode_metadata(table))


def decode_metadata(table: pa.Table) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, eval rows) from a trial table's metadata; KeyError if it has none."""
    metadata = table.schema.metadata or {}
    summary = json.loads(metadata[SUMMARY_KEY])
    for key, value in summary.items():
        if value in ("inf", "nan", "-inf"):
            summary[key] = float(value)
    return summary, json.loads(metadata[EVALS_KEY])
