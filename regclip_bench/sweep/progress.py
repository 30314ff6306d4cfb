"""The sweep's one-line progress display, a Ray Tune callback."""

from __future__ import annotations

import time
from typing import TextIO

from ray import tune

from ..progress import StatusLine


def _size(trial) -> int:
    """How many configurations a Tune trial trains: a pack's members, else one."""
    return len(trial.config.get("trial", {}).get("members", ())) or 1


class Progress(tune.Callback):
    """One line: configurations done / running / failed / diverged (a pack counts each member), the best
    value so far of the metric the task is scored by, an ETA."""

    def __init__(self, total: int, stream: TextIO | None = None,
                 metric: tuple[str, str] = ("final_loss", "min")) -> None:
        self.total, self.line = total, StatusLine(stream)
        self.metric, self.direction = metric
        self.start = time.perf_counter()
        self.running = 0   # from Tune's own trial statuses, never more than it really runs
        self.most_running = 0   # the most at once, at any event (the final line says it)
        self.done = self.errored = self.failed = self.diverged = 0   # failed: out of memory, a result
        self.retried = 0   # a crashed trial Tune runs again (from its checkpoint): shown once it happens
        self.storage_waits = 0   # a trial waited for storage that did not answer (trainable.patiently)
        self.best: float | None = None
        self._last_print = 0.0

    def __getstate__(self) -> dict:
        # Tune pickles callbacks with the experiment; a restored run gets a fresh display.
        return {"total": self.total, "metric": (self.metric, self.direction)}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["total"], metric=state.get("metric", ("final_loss", "min")))

    def _count(self, trials, ended=None) -> None:
        # Tune calls on_trial_complete and on_trial_error before it changes the ended trial's status.
        self.running = sum(_size(t) for t in trials if t.status == "RUNNING" and t is not ended)
        self.most_running = max(self.most_running, self.running)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._count(trials)
        self._show()

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._count(trials)
        if result.get("storage_wait"):
            self.storage_waits += 1
            self._show(force=True)
            return
        if result.get("finished"):
            statuses = result.get("member_statuses") or {result.get("status"): 1}
            self.diverged += statuses.get("diverged", 0)
            self.failed += statuses.get("failed", 0)
            value = result.get(f"best_{self.metric}", result.get(self.metric))
            better = (lambda a, b: a < b) if self.direction == "min" else (lambda a, b: a > b)
            if isinstance(value, float) and value == value and (self.best is None or better(value, self.best)):
                self.best = value
        self._show()

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._count(trials, ended=trial)
        self.done += _size(trial)
        self._show(force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._count(trials, ended=trial)
        self.errored += _size(trial)
        self._show(force=True)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        self.retried += _size(trial)
        self._show(force=True)

    def _show(self, force: bool = False) -> None:
        now = time.perf_counter()
        finished = self.done + self.errored
        if now - self._last_print < (1.0 if self.line.tty and force is False else 0.0 if self.line.tty else 5.0):
            if not (force and finished == self.total):
                return
        self._last_print = now
        elapsed = now - self.start
        eta = f"{elapsed / finished * (self.total - finished):.0f}s" if finished else "?"
        best = f"{self.best:.4g}" if self.best is not None else "—"
        self.line.show(f"[{elapsed:6.0f}s] done {self.done}/{self.total}  running {self.running}  "
                       f"failed {self.failed + self.errored}  "
                       + (f"retried {self.retried}  " if self.retried else "")
                       + (f"waited for storage {self.storage_waits}×  " if self.storage_waits else "")
                       + f"diverged {self.diverged}  "
                       f"best {self.metric.removeprefix('final_').replace('_', ' ')} {best}  "
                       f"eta {eta}")

    def close(self) -> None:
        self.line.close()
