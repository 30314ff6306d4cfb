"""The results store: every step of every trial, in versioned, task-partitioned Parquet tables."""

from .schema import SCHEMA_VERSION, TABLES
from .store import Aggregated, ResultsError, aggregate, load

__all__ = ["SCHEMA_VERSION", "TABLES", "Aggregated", "ResultsError", "aggregate", "load"]
