"""A trial's wall-clock limit: past it, the trial's thread gets `TrialTimeout` — a result
(`timed_out`), not a crashed sweep.

The exception is delivered between Python bytecodes (`PyThreadState_SetAsyncExc`), so a step that
loops in Python is stopped; one blocked inside a single native call is stopped when that call returns.
"""

from __future__ import annotations

import ctypes
import threading


class TrialTimeout(Exception):
    """The trial ran past its time limit."""


class Deadline:
    """`with Deadline(seconds):` raises TrialTimeout in this thread once `seconds` have passed (never
    after the block is left); `None`: no limit."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.fired = False

    def __enter__(self) -> Deadline:
        if self.seconds is not None:
            self._thread, self._lock, self._armed = threading.get_ident(), threading.Lock(), True
            self._timer = threading.Timer(self.seconds, self._fire)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _fire(self) -> None:
        with self._lock:
            if self._armed:
                self.fired = True
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread), ctypes.py_object(TrialTimeout))

    def __exit__(self, kind, value, traceback) -> bool:
        if self.seconds is None:
            return False
        with self._lock:
            self._armed = False
            if self.fired:   # not delivered yet: take it back, and raise it here, inside the block's handler
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._thread), None)
        self._timer.cancel()
        if self.fired and kind is None:
            raise TrialTimeout
        return False
