"""What the suite's two training loops share — `trial.run_trial` (one configuration) and
`packed.run_pack` (K configurations trained as one vmapped model): when a step is logged, evaluated and
offered as a checkpoint (`Cadence`), and the record a trial ends with (`finish`).  The learning rate at a
step is `TrialConfig.lr_at`, for both.  A change to what a trial records or when is made here, once."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._lazy import Lazy
from .identity import trial_identity
from .summary import Ending, summarise

if TYPE_CHECKING:
    from .config import TrialConfig
    from .spec import BudgetSpec, TargetSpec

torch = Lazy("torch")


@dataclass(frozen=True)
class Cadence:
    """A trial's rhythm over steps 1 … total: a logged row every `log_every` steps (and at the first and
    the last), an evaluation every `eval_every` steps (and at the last), a checkpoint offered after each
    evaluation but the last (the trial file, written next, supersedes it)."""
    total: int
    log_every: int
    eval_every: int

    @classmethod
    def of(cls, budget: BudgetSpec, total: int) -> Cadence:
        return cls(total, budget.log_every, budget.eval_every)

    def logs(self, step: int) -> bool:
        return step % self.log_every == 0 or step in (1, self.total)

    def evaluates(self, step: int) -> bool:
        return step % self.eval_every == 0 or step == self.total

    def checkpoints(self, step: int) -> bool:
        return step % self.eval_every == 0 and step < self.total


class Clock:
    """A trial's training seconds — the wall time since it began, less what evaluation and diagnostics
    took (`aside`) — and the current logging interval's steps and seconds.  A resumed trial's clock goes
    on from its checkpoint's training seconds."""

    def __init__(self, trained: float = 0.0) -> None:
        now = time.perf_counter()
        self.start, self.set_aside = now - trained, 0.0
        self.interval_start, self.interval_first = now, 1

    def trained(self) -> float:
        return time.perf_counter() - self.start - self.set_aside

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    @contextmanager
    def aside(self) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        finally:
            self.set_aside += time.perf_counter() - began

    def interval(self, step: int) -> tuple[int, float]:
        """The steps and seconds of the logging interval that ends at `step`."""
        return step - self.interval_first + 1, time.perf_counter() - self.interval_start

    def next_interval(self, first: int) -> None:
        self.interval_start, self.interval_first = time.perf_counter(), first


def finish(config: TrialConfig, steps: list[dict], evals: list[dict], end: Ending,
           step_graph: str | None = None) -> dict[str, Any]:
    """A trial's record: its summary (`summarise`), configuration, identity keys, the optimizer's
    provenance, how its steps ran (`step_graph`: "cuda" when replayed from CUDA graphs — the same numbers,
    other seconds), and its rows — what a trial file holds, whichever loop trained it."""
    return {**summarise(steps, evals, end).record(), "config": config.flat(), **trial_identity(config),
            **optimizer_provenance(config), "step_graph": step_graph, "steps": steps, "evals": evals}


def optimizer_provenance(config: TrialConfig) -> dict[str, str | None]:
    """Where the optimizer's code came from: built-in, or a plug-in with its source's SHA-256 and packages."""
    plugin = config.plugin or {}
    entry = config.entry if plugin else None
    return {"optimizer_origin": plugin.get("origin", "built-in"), "optimizer_sha256": plugin.get("sha256"),
            "optimizer_packages": json.dumps(dict(entry.packages), sort_keys=True) if entry else None}


def time_to_target(target: TargetSpec, rows: list[dict], evals: list[dict], step_times: list[float]) -> dict[str, float]:
    """Steps and training seconds to the first step that met the target: for a training-loss target
    to minimise, tracked per step on the device (`target.tracked_loss`); to maximise, judged on the
    logged `rows`; for any other metric, the first evaluation after w₀ that met it.  inf: missed."""
    if target.metric != "train_loss":
        hit = next((r["step"] for r in evals if r["step"] > 0 and target.metric in r
                    and target.reached(r[target.metric])), -1)
    elif target.direction == "min":
        hit = rows[-1]["first_hit"] if rows else -1
    else:
        hit = next((r["step"] for r in rows if r["loss"] >= target.value), -1)
    return {"steps_to_target": hit if hit > 0 else math.inf,
            "seconds_to_target": step_times[hit - 1] if hit > 0 else math.inf}


def step_graph_of(captured: bool, device) -> str | None:
    """A record's `step_graph`: "cuda" when its steps were replayed from CUDA graphs (graphs.py; on any
    other device a captured loop makes none), else None."""
    return "cuda" if captured and device.type == "cuda" else None


def device_fields(device) -> dict[str, str]:
    return {"device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}


def logged_row(step: int, read: dict[str, Any], floor: float | None, clips: bool, lr: float, w0_norm: float,
            interval_steps: int, batch: int, seconds: float) -> dict[str, Any]:
    """A logged row from the diagnostics' numbers (`StepDiagnostics.read`): the regime shares, η and
    what derives from them (also each member's row of a pack)."""
    row = {"step": step, **read, **({"floor": floor} if floor else {})}
    if clips:
        for name in ("unclipped", "clipped", "floor"):
            row[f"frac_{name}"] = row[f"n_{name}"] / interval_steps
    row["lr"] = lr
    # ‖Δw‖/‖g‖: the step size any optimizer took, comparable with δ-GClip's h (equal to it without weight decay)
    row["effective_step"] = row["update_norm"] / row["grad_norm"] if row["grad_norm"] > 0 else math.nan
    row["pl_ratio"] = row["grad_norm"] ** 2 / row["loss"] if row["loss"] > 0 else math.nan
    row["rel_dist_from_init"] = row["dist_from_init"] / w0_norm if w0_norm > 0 else math.nan
    row["examples_per_s"] = interval_steps * batch / seconds if seconds > 0 else math.nan
    row["nonfinite_steps"] = int(row["nonfinite_steps"])
    return row
