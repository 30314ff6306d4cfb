"""Kinds of task, behind one small contract (AlgoPerf's workload idea, not its width).

The training loop (`trial.py`) asks a task's kind for three things only: the training loss of a
batch, the evaluation of a model, and the names of the metrics that evaluation reports. Each kind
is one module in this package, found by its task's `loss:` name; a new kind of task is one new
module here plus a YAML file.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import Kind

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")

KINDS: dict[str, Kind] = {cls.name: cls() for cls in Kind.__subclasses__()}
METRICS = tuple(dict.fromkeys(m for kind in KINDS.values() for m in kind.metrics))

__all__ = ["KINDS", "METRICS", "Kind"]
