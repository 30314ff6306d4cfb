"""The sweep's one-line progress display, a Ray Tune callback."""

from __future__ import annotations

import time
from typing import TextIO

from ray import tune

from ..progress import StatusLine


class Progress(tune.Callback):
    """One line: trials done / running / failed / diverged, the best loss so far, an ETA."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total, self.line = total, StatusLine(stream)
        self.start = time.perf_counter()
        self.running = 0   # from Tune's own trial statuses, never more than it really runs
        self.done = self.failed = self.diverged = 0
        self.best: float | None = None
        self._last_print = 0.0

    def __getstate__(self) -> dict:
        # Tune pickles callbacks with the experiment; a restored run gets a fresh display.
        return {"total": self.total}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["total"])

    def _count(self, trials) -> None:
        self.running = sum(t.status == "RUNNING" for t in trials)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self._show()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._count(trials)
        if result.get("finished"):
            if result.get("status") == "diverged":
                self.diverged += 1
            elif result.get("status") == "failed":
                self.failed += 1
            loss = result.get("final_loss")
            if isinstance(loss, float) and loss == loss and (self.best is None or loss < self.best):
                self.best = loss
        self._show()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self.done += 1
        self._show(force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self.failed += 1
        self._show(force=True)

    def _show(self, force: bool = False) -> None:
        now = time.perf_counter()
        if now - self._last_print < (1.0 if self.line.tty and force is False else 0.0 if self.line.tty else 5.0):
            if not (force and self.done + self.failed == self.total):
                return
        self._last_print = now
        elapsed = now - self.start
        finished = self.done + (self.failed if self.failed else 0)
        eta = f"{elapsed / finished * (self.total - finished):.0f}s" if finished else "?"
        best = f"{self.best:.4g}" if self.best is not None else "—"
        self.line.show(f"[{elapsed:6.0f}s] done {self.done}/{self.total}  running {self.running}  "
                       f"failed {self.failed}  diverged {self.diverged}  best final loss {best}  eta {eta}")

    def close(self) -> None:
        self.line.close()
