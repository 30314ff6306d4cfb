"""Imports put off until first use, so that commands which only read task files or a store (`tasks`,
`sweep --dry-run`, `query`, `leaderboard`) never import torch: `Lazy("torch")` stands for the module,
`Lazy("package.module:name")` for a callable in it (an optimizer class, a kernel), each imported the
first time it is used and kept.  (Module-level names only: a decorator runs at import, so it would
import at once.)"""

from __future__ import annotations

import importlib
from typing import Any


class Lazy:
    def __init__(self, target: str, **bound: Any):
        self._target, self._bound, self._found = target, bound, None

    def _resolve(self) -> Any:
        if self._found is None:
            module, _, name = self._target.partition(":")
            found = importlib.import_module(module)
            self._found = getattr(found, name) if name else found
        return self._found

    def __getattr__(self, attr: str) -> Any:
        if attr in ("_target", "_bound", "_found"):   # not yet set (a copy being made): never recurse
            raise AttributeError(attr)
        return getattr(self._resolve(), attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._resolve()(*args, **self._bound, **kwargs)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lazy) and (self._target, self._bound) == (other._target, other._bound)

    def __hash__(self) -> int:
        return hash((self._target, tuple(sorted(self._bound.items()))))

    def __repr__(self) -> str:
        bound = "".join(f", {k}={v!r}" for k, v in self._bound.items())
        return f"Lazy({self._target!r}{bound})"
