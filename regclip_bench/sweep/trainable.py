"""The Ray Tune side of a trial: `run_trial`, unchanged, with a reporter that talks to Tune."""

from __future__ import annotations

import io
import math
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pyarrow.parquet as pq
import ray
import torch
from ray import tune

from ..config import resolve_trial
from ..spec import TaskSpec
from ..trial import Reporter, run_trial
from ..trial_io import trial_table
from ..provenance import provenance
from ..identity import trial_key
from .storage import join, write_bytes

STATE_FILE = "trial_state.pt"
REPORTED = ("step", "loss", "loss_avg", "best_loss", "grad_norm", "clip_factor", "step_size",
            "pl_ratio", "dist_from_init", "lr", "examples_per_s")


def _scalars(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in REPORTED if k in row and row[k] is not None}


class TuneReporter(Reporter):
    """Reports to Tune at evaluations, with a checkpoint, at most once per
    `checkpoint_every_s` seconds: the latest logged metrics and the test metrics.  The full
    step rows go to the trial's Parquet file instead, so Tune's per-report cost (and the
    checkpoint's copy to storage) is not paid for every log or every short evaluation."""

    def __init__(self, checkpoint_every_s: float = 10.0,
                 partial: Callable[[], None] | None = None) -> None:
        self.last: dict[str, Any] = {}
        self.every = checkpoint_every_s
        self.last_checkpoint = time.monotonic()
        self.partial = partial  # search mode: report every evaluation, after saving the rows so far

    def log(self, row: dict[str, Any]) -> None:
        self.last.update(_scalars(row))

    def eval(self, row: dict[str, Any]) -> None:
        self.last.update({k: v for k, v in row.items() if k.startswith("test_")})

    def checkpoint(self, step: int, state: Callable[[], dict[str, Any]]) -> None:
        if time.monotonic() - self.last_checkpoint < self.every:
            if self.partial is not None:  # ASHA needs every evaluation; it may stop us here
                self.partial(state)
                tune.report(dict(self.last))
            return
        if self.partial is not None:
            self.partial(state)
        self.last_checkpoint = time.monotonic()
        with tempfile.TemporaryDirectory() as folder:
            torch.save(state(), Path(folder) / STATE_FILE)
            tune.report(dict(self.last, checkpoint_step=step),
                        checkpoint=tune.Checkpoint.from_directory(folder))


def sweep_trial(config: dict[str, Any]) -> None:
    """Tune function trainable.  Grid mode: `config["trial"]` carries the task, the trial's
    overrides and key.  Search mode: the sampled keys sit at the top level beside "static"."""
    if "trial" in config:
        params = config["trial"]
        overrides = params["overrides"]
    else:
        params = config["static"]
        overrides = {**params["overrides"], **{k: v for k, v in config.items() if k != "static"}}
    task = TaskSpec.model_validate(params["task"])
    trial = resolve_trial(task, overrides)  # device "auto": the GPU when Tune gave one
    key = params.get("key") or trial_key(trial)
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            resume = torch.load(Path(folder) / STATE_FILE, weights_only=False)
    destination = join(params["sweep_dir"], "trials", f"{key}.parquet")

    def save(result: dict[str, Any]) -> None:
        result.update(key=key, sweep=params["sweep"], node_id=ray.get_runtime_context().get_node_id(),
                      hostname=socket.gethostname(), **provenance())
        buffer = io.BytesIO()
        pq.write_table(trial_table(result), buffer)
        write_bytes(destination, buffer.getvalue())

    def partial(state: Callable[[], dict[str, Any]]) -> None:
        rows = state()
        save({"status": "stopped", "steps_done": rows["step"], "config": trial.flat(),
              "steps": rows["steps"], "evals": rows["evals"]})

    reporter = TuneReporter(params["checkpoint_every_s"], partial if params.get("search") else None)
    result = run_trial(trial, reporter, resume=resume)
    save(result)
    final = {k: v for k, v in result.items()
             if isinstance(v, (int, float, str)) and not (isinstance(v, float) and not math.isfinite(v))}
    tune.report({**final, **{k: v for k, v in reporter.last.items() if k not in final}, "finished": True})
