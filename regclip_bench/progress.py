"""A one-line progress display for a trial on the terminal."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .trial import Reporter


class ProgressLine(Reporter):
    """Rewrites one line on a terminal; elsewhere prints a line about every 10% of the run."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.total, self.started, self.last_printed, self.eval_text = 1, 0.0, 0, ""
        self.drawn = False

    def start(self, total_steps: int) -> None:
        self.total, self.started = total_steps, time.perf_counter()

    def log(self, row: dict[str, Any]) -> None:
        step = row["step"]
        done = step / self.total
        elapsed = time.perf_counter() - self.started
        eta = elapsed / done - elapsed if done > 0 else float("nan")
        bar = "#" * int(20 * done) + "." * (20 - int(20 * done))
        clip = f" h/η {row['clip_factor']:.3g} {row['regime']}" if row.get("regime") else ""
        line = (f"step {step}/{self.total} [{bar}] loss {row['loss']:.4g} ‖g‖ {row['grad_norm']:.3g}"
                f"{clip} ‖w−w₀‖ {row['dist_from_init']:.3g}{self.eval_text} eta {eta:.0f}s")
        if self.tty:
            self.stream.write("\r" + line + "\033[K")
            self.stream.flush()
            self.drawn = True
        elif step - self.last_printed >= self.total / 10 or step == self.total:
            self.stream.write(line + "\n")
            self.last_printed = step

    def eval(self, row: dict[str, Any]) -> None:
        self.eval_text = "".join(f" {k} {v:.4g}" for k, v in row.items() if k.startswith("test_"))

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
