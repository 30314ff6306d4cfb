"""The Ray Tune side of a trial: `run_trial`, unchanged, with a reporter that talks to Tune."""

from __future__ import annotations

import math
import socket
from collections import Counter
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import ray
import torch
from ray import tune

from ..config import TrialConfig, resolve_trial
from ..optim.registry import lookup
from ..spec import TaskSpec
from ..summary import columns as summary_columns
from ..packed import run_pack
from ..trial import Reporter, run_trial, stopped_record
from ..trial_io import read_trial, write_trial
from ..provenance import provenance
from ..identity import trial_key
from ..storage import exists, join

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
    """Tune function trainable.  `config["trial"]` holds the task, the trial's overrides (or a pack's
    members') and where to write; in search mode, its "sampled" holds the values Tune drew.  A grid
    trial whose file is written already (its sweep was interrupted after the write, before Tune heard
    of it) is not run again: its file is reported as it is, never rewritten."""
    params = config["trial"]
    resume = None
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            resume = torch.load(Path(folder) / STATE_FILE, weights_only=False)

    def path(trial) -> str:
        return join(params["sweep_dir"], "trials", f"{trial_key(trial)}.parquet")

    def written(trial) -> bool:   # (search mode saves partial records on purpose: never "written")
        return not params.get("sampled") and exists(path(trial))

    def save(trial, result: dict[str, Any], **extra: Any) -> None:
        result.update(key=trial_key(trial), sweep=params["sweep"], hostname=socket.gethostname(),
                      node_id=ray.get_runtime_context().get_node_id(), **provenance(), **extra)
        write_trial(path(trial), result)

    reporter = TuneReporter(params["checkpoint_every_s"])
    if "members" in params:   # a pack: each member saved as its own trial, as if it had run alone
        trials = [TrialConfig.from_dict(m["config"]) for m in params["members"]]
        done = [written(t) for t in trials]
        if all(done):
            results = [read_trial(path(t))[1] for t in trials]
        else:
            results = run_pack(trials, reporter, resume=resume)
            for trial, result, saved in zip(trials, results, done):
                if not saved:
                    save(trial, result, pack=params["key"])
        statuses = Counter(r["status"] for r in results)
        losses = [r["final_loss"] for r in results if math.isfinite(r["final_loss"])]
        metric, direction = scored_metric(trials[0].task)
        scored = [r[metric] for r in results if isinstance(r.get(metric), float) and math.isfinite(r[metric])]
        tune.report({"finished": True, "members": len(results), "member_statuses": dict(statuses),
                     **({"best_final_loss": min(losses)} if losses else {}),
                     **({f"best_{metric}": (min if direction == "min" else max)(scored)} if scored else {})})
        return
    if params.get("sampled") is not None:   # search: the values Tune drew, resolved here
        if params.get("plugin"):
            lookup(params["overrides"]["optimizer"], params["plugin"])
        trial = resolve_trial(TaskSpec.model_validate(params["task"]), {**params["overrides"], **params["sampled"]})
    else:   # resolved and checked by the driver (device "auto": the GPU Tune gives the trial)
        trial = TrialConfig.from_dict(params["config"])
    if written(trial):
        tune.report({**_final(read_trial(path(trial))[1]), "finished": True})
        return
    if params.get("sampled"):
        reporter.partial = lambda state: save(trial, stopped_record(trial, state()))
    result = run_trial(trial, reporter, resume=resume, time_limit_s=params.get("time_limit_s"))
    save(trial, result)
    final = _final(result)
    tune.report({**final, **{k: v for k, v in reporter.last.items() if k not in final}, "finished": True})


def scored_metric(task) -> tuple[str, str]:
    """The final metric a task's trials are scored by (a record's column) and its direction."""
    from ..summary import recorded_name
    return f"final_{recorded_name(task.target.metric)}", task.target.direction


def _final(result: dict[str, Any]) -> dict[str, Any]:
    """A trial's summary columns that Tune can hold: numbers and strings, finite."""
    return {name: result[name] for name, _ in summary_columns() if isinstance(result.get(name), (int, float, str))
            and not (isinstance(result[name], float) and not math.isfinite(result[name]))}
