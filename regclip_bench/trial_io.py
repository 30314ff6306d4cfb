"""A single trial's output as one Parquet file: step rows, with the summary in the metadata."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .storage import write_bytes

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


def write_trial(path: str | Path, result: dict[str, Any]) -> str | Path:
    """Write the trial file atomically (a local path or a URI)."""
    buffer = pa.BufferOutputStream()
    pq.write_table(trial_table(result), buffer)
    write_bytes(path if isinstance(path, str) and "://" in path else Path(path).resolve(),
                buffer.getvalue().to_pybytes())
    return path


def read_trial(path: str | Path) -> tuple[pa.Table, dict[str, Any], list[dict[str, Any]]]:
    """(step rows, summary, eval rows) of a file written by `write_trial`."""
    table = pq.read_table(path)
    return (table, *decode_metadata(table))


def decode_metadata(table: pa.Table | pa.Schema) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(summary, eval rows) from a trial table's (or its schema's) metadata; KeyError if it has none."""
    metadata = (table if isinstance(table, pa.Schema) else table.schema).metadata or {}
    summary = json.loads(metadata[SUMMARY_KEY])
    for key, value in summary.items():
        if value in ("inf", "nan", "-inf"):
            summary[key] = float(value)
    return summary, json.loads(metadata[EVALS_KEY])
