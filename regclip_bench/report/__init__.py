"""Comparison reports and the leaderboard from the results store, under one protocol."""

from .protocol import Scoring
from .report import build_report

__all__ = ["Scoring", "build_report"]
