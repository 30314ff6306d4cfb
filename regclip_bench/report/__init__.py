"""Comparison reports from the results store."""

from .report import Selection, best_configs, build_report

__all__ = ["Selection", "best_configs", "build_report"]
