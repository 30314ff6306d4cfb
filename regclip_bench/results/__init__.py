"""The results store: every step of every trial, in versioned, task-partitioned Parquet tables."""

from .schema import SCHEMA_VERSION, TABLES
from .store import Aggregated, ResultsError, aggregate, load
from .submission import write_submission

__all__ = ["SCHEMA_VERSION", "TABLES", "Aggregated", "ResultsError", "aggregate", "load", "write_submission"]
