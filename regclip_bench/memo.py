"""One rule for remembering what is computed from a frozen object (a TaskSpec: a plan's thousands of
trials share a few), so that it is computed once per object."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any


class PerObject:
    """Values keyed by an object's identity and an extra key.  The object is kept beside its value, so an
    id that Python reuses for another object never returns the first one's; past `limit` entries all
    are forgotten (a long-lived process plans many sweeps)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self.entries: dict[tuple[int, Hashable], tuple[Any, Any]] = {}

    def get(self, obj: Any, extra: Hashable, compute: Callable[[], Any]) -> Any:
        key = (id(obj), extra)
        known = self.entries.get(key)
        if known is not None and known[0] is obj:
            return known[1]
        value = compute()
        if len(self.entries) >= self.limit:
            self.entries.clear()
        self.entries[key] = (obj, value)
        return value
