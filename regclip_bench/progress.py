"""One-line progress displays: a trial's (`ProgressLine`), and the line they and a sweep's share."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO


class Reporter:
    """Receives a trial's rows as they are produced (`trial.run_trial`, `packed.run_pack`); the default
    ignores them.  Torch-free, so that a sweep's driver never imports torch."""

    def start(self, total_steps: int) -> None: ...

    def log(self, row: dict[str, Any]) -> None: ...

    def eval(self, row: dict[str, Any]) -> None: ...

    def checkpoint(self, step: int, state: Callable[[], dict[str, Any]]) -> None:
        """Called after each evaluation; `state()` builds what `run_trial(resume=...)` takes."""

    def close(self) -> None: ...


class StatusLine:
    """One line rewritten in place on a terminal; elsewhere, one line per `show`."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr   # the stderr of the moment (tests capture it)
        self.tty, self.drawn = self.stream.isatty(), False

    def show(self, line: str) -> None:
        self.stream.write("\r" + line + "\033[K" if self.tty else line + "\n")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn and self.tty:
            self.stream.write("\n")


class ProgressLine(Reporter):
    """A trial's progress: rewritten on a terminal; elsewhere about every 10% of the run."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.line = StatusLine(stream)
        self.total, self.started, self.last_printed, self.eval_text = 1, 0.0, 0, ""

    def start(self, total_steps: int) -> None:
        self.total, self.started = total_steps, time.perf_counter()

    def log(self, row: dict[str, Any]) -> None:
        step, done = row["step"], row["step"] / self.total
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done - elapsed if done > 0 else float("nan")
        bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
        clip = f" h/η {row['clip_factor']:.3g} {row['regime']}" if row.get("regime") else ""
        if self.line.tty or step - self.last_printed >= self.total / 10 or step == self.total:
            self.line.show(f"step {step}/{self.total} [{bar}] loss {row['loss']:.4g} ‖g‖ {row['grad_norm']:.3g}"
                           f"{clip} ‖w−w₀‖ {row['dist_from_init']:.3g}{self.eval_text} eta {eta:.0f}s")
            self.last_printed = step

    def eval(self, row: dict[str, Any]) -> None:
        self.eval_text = "".join(f" {k} {v:.4g}" for k, v in row.items() if k.startswith("test_"))

    def close(self) -> None:
        self.line.close()
