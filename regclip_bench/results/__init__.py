"""The results store: every step of every trial, in versioned, task-partitioned Parquet tables.

`SCHEMA_VERSION` and `TABLES` come at once; the rest on first use (PEP 562), so that checking where a
command will write needs neither pandas nor the store's code."""

from __future__ import annotations

import importlib
from typing import Any

from .schema import SCHEMA_VERSION, TABLES

_WHERE = {"Aggregated": "store", "ResultsError": "store", "aggregate": "store", "load": "store",
          "write_submission": "submission"}
__all__ = ["SCHEMA_VERSION", "TABLES", *_WHERE]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
