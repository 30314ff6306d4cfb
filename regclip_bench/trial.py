"""One trial: train one configuration of a task, measure what the theorem is about, summarise.

Runs on its own (`regclip-bench train`) and, unchanged, inside a Ray Tune trial: all contact with
the outside goes through the `Reporter`.  What is specific to a kind of task (its loss and its
metrics) comes from `kinds`; what is specific to an optimizer, from its `diagnostics()`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import TrialConfig, pick_device
from .data import load_data
from .diagnostics import StepDiagnostics
from .identity import trial_identity
from .kinds import KINDS
from .memory import is_out_of_memory, memory_shortfall, parameter_count
from .models import build_model
from .optim import make_optimizer
from .sharpness import model_sharpness
from .summary import Status, summarise


class Reporter:
    """Receives a trial's rows as they are produced; the default ignores them."""

    def start(self, total_steps: int) -> None: ...

    def log(self, row: dict[str, Any]) -> None: ...

    def eval(self, row: dict[str, Any]) -> None: ...

    def checkpoint(self, step: int, state: Callable[[], dict[str, Any]]) -> None:
        """Called after each evaluation; `state()` builds what `run_trial(resume=...)` takes."""

    def close(self) -> None: ...


@dataclass
class TrialState:
    """Everything a trial needs to go on exactly where it stopped: what a checkpoint holds."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    batches: Any   # data.batcher(): its next() feeds data.batch()
    diag: StepDiagnostics
    generator: torch.Generator
    w0: list[torch.Tensor]
    step: int = 0
    steps: list[dict] = field(default_factory=list)        # the logged rows
    evals: list[dict] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)  # training seconds after each step

    OBJECTS = ("model", "optimizer", "scheduler", "batches", "diag")   # saved by their own state_dict
    VALUES = ("step", "w0", "steps", "evals", "step_times")

    def state_dict(self) -> dict[str, Any]:
        device = self.w0[0].device if self.w0 else torch.device("cpu")
        return {**{n: getattr(self, n).state_dict() for n in self.OBJECTS},
                **{n: getattr(self, n) for n in self.VALUES}, "generator": self.generator.get_state(),
                "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.OBJECTS:
            getattr(self, name).load_state_dict(state[name])
        for name in self.VALUES:
            setattr(self, name, state[name] if name != "w0" else [p.to(q.device) for p, q in zip(state[name], self.w0)])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.w0 and self.w0[0].device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.w0[0].device)


def run_trial(config: TrialConfig, reporter: Reporter | None = None,
              resume: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train `config` and return its summary record; the step and eval rows go to `reporter`
    and are also returned under "steps" and "evals".  `resume` is a state handed to
    `Reporter.checkpoint`: training continues after its step, exactly as it would have."""
    reporter, task, budget = reporter or Reporter(), config.task, config.task.budget
    device, kind, target = pick_device(config.device), KINDS[task.loss], task.target
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # batch order and augmentation
    data = load_data(task.data, device)
    batches = data.batcher(None if budget.batch_size == "full" else budget.batch_size, generator, device)
    total_steps = budget.steps or budget.epochs * batches.steps_per_epoch
    shortfall = memory_shortfall(task, data, config.optimizer, device)
    if shortfall is not None:  # out of memory is a result: say so before allocating it
        return trial_record(config, summarise([], [], Status.FAILED, shortfall, math.nan, total_steps=total_steps,
                                              param_count=parameter_count(task, data), **device_fields(device)), [], [])
    model = build_model(task.model, data.input_shape, data.num_outputs).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = make_optimizer(config.optimizer, params, **config.hparams)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(opt, *config.milestone_steps(batches.steps_per_epoch))
    diag = StepDiagnostics(device, target.tracked_loss())
    s = TrialState(model, opt, scheduler, batches, diag, generator, [p.detach().clone() for p in params])
    reporter.start(total_steps)
    start = time.perf_counter()
    sample = data.probe()
    if resume is None:   # the metrics at w₀: what "no progress" and capped scores compare with
        s.evals.append({"step": 0, "epoch": 0.0, "train_loss": kind.probe(model, sample), **kind.evaluate(model, data)})
        reporter.eval(s.evals[0])
    else:
        s.load_state_dict(resume)
        start -= s.step_times[-1] if s.step_times else 0.0   # the clock goes on from the checkpoint
    first, eval_seconds = s.step + 1, time.perf_counter() - start if resume is None else 0.0
    w0_norm, status, error = _norm(s.w0).item(), Status.COMPLETED, None
    interval_start, interval_first = time.perf_counter(), first
    try:
        for s.step in range(first, total_steps + 1):
            x, y = data.batch(batches.next(), generator)
            model.train()
            loss = kind.loss(model, x, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            diag.update(loss, opt.diagnostics(full=False))
            s.step_times.append(time.perf_counter() - start - eval_seconds)
            if s.step % budget.log_every == 0 or s.step in (1, total_steps):
                row = _log_row(s, w0_norm, len(x), s.step - interval_first + 1, time.perf_counter() - interval_start)
                if budget.sharpness_every and (len(s.steps) - 1) % budget.sharpness_every == 0:
                    measure_start = time.perf_counter()   # a diagnostic: not training time
                    row.update(_sharpness(kind, model, x, y, row, budget.sharpness_iterations))
                    eval_seconds += time.perf_counter() - measure_start
                interval_start, interval_first = time.perf_counter(), s.step + 1
                reporter.log(row)
                if row["nonfinite"] or row["nonfinite_steps"] > 0:
                    status = Status.DIVERGED
                    break
            if s.step % budget.eval_every == 0 or s.step == total_steps:
                eval_start = time.perf_counter()
                s.evals.append({"step": s.step, "epoch": s.step / batches.steps_per_epoch,
                                **kind.evaluate(model, data)})
                eval_seconds += time.perf_counter() - eval_start
                reporter.eval(s.evals[-1])
            scheduler.step()  # after logging, so that a row's lr is the η its step used
            if s.step % budget.eval_every == 0 and s.step < total_steps:
                reporter.checkpoint(s.step, s.state_dict)
    except (torch.OutOfMemoryError, RuntimeError) as exc:  # out of memory: a result; anything else: a bug
        if not is_out_of_memory(exc):
            raise
        status, error, s.step = Status.FAILED, f"out of memory: {str(exc).splitlines()[0]}", s.step - 1
    probe = (s.evals[0]["train_loss"], kind.probe(model, sample) if status != Status.FAILED else math.nan)
    return trial_record(config, summarise(
        s.steps, s.evals, status, error, w0_norm, probe, steps_done=s.step, resumed_from_step=first - 1,
        total_steps=total_steps, **time_to_target(target, s.steps, s.evals, s.step_times),
        param_count=sum(p.numel() for p in params), wall_time_s=time.perf_counter() - start,
        train_time_s=s.step_times[-1] if s.step_times else 0.0, **device_fields(device)), s.steps, s.evals)


def stopped_record(config: TrialConfig, state: dict[str, Any]) -> dict[str, Any]:
    """The record of a trial stopped at `state` (a checkpoint's): a search's scheduler stopped it."""
    return trial_record(config, summarise(state["steps"], state["evals"], Status.STOPPED, None,
                                          _norm(state["w0"]).item(), steps_done=state["step"]),
                        state["steps"], state["evals"])


def trial_record(config: TrialConfig, summary, steps: list[dict], evals: list[dict]) -> dict[str, Any]:
    return {**summary.record(), "config": config.flat(), **trial_identity(config), "steps": steps, "evals": evals}


def time_to_target(target, rows: list[dict], evals: list[dict], step_times: list[float]) -> dict[str, float]:
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


def device_fields(device: torch.device) -> dict[str, str]:
    return {"device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}


def _sharpness(kind, model, x, y, row: dict[str, Any], iterations: int) -> dict[str, float]:
    """The Hessian's top eigenvalue on this batch, beside 2/η (and 2/(ηδ) for a clipping optimizer)."""
    out = {"sharpness": model_sharpness(kind, model, x, y, iterations), "sharpness_limit": 2 / row["lr"]}
    if row.get("clip_factor") is not None and row.get("floor"):
        out["sharpness_floor_limit"] = 2 / (row["lr"] * row["floor"])
    return out


def _norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


def _log_row(s: TrialState, w0_norm: float, batch: int, interval_steps: int, seconds: float) -> dict[str, Any]:
    """One logged step: the optimizer's diagnostics, ‖w − w₀‖ and the interval's statistics, in
    one transfer from the device; appended to the state's rows."""
    d = s.optimizer.diagnostics()
    params = [p.detach() for group in s.optimizer.param_groups for p in group["params"]]
    read = s.diag.read(interval_steps, d, _norm(torch._foreach_sub(params, s.w0)))
    row = log_row(s.step, read, d.floor, d.clip_factor is not None,
                  s.optimizer.param_groups[0]["lr"], w0_norm, interval_steps, batch, seconds)
    s.steps.append(row)
    return row


def log_row(step: int, read: dict[str, Any], floor: float | None, clips: bool, lr: float, w0_norm: float,
            interval_steps: int, batch: int, seconds: float) -> dict[str, Any]:
    """A logged row from the diagnostics' numbers (`StepDiagnostics.read`): the regime shares, η and
    what derives from them (also each member's row of a pack)."""
    row = {"step": step, **read, **({"floor": floor} if floor else {})}
    if clips:
        for name in ("unclipped", "clipped", "floor"):
            row[f"frac_{name}"] = row[f"n_{name}"] / interval_steps
    row["lr"] = lr
    row["pl_ratio"] = row["grad_norm"] ** 2 / row["loss"] if row["loss"] > 0 else math.nan
    row["rel_dist_from_init"] = row["dist_from_init"] / w0_norm if w0_norm > 0 else math.nan
    row["examples_per_s"] = interval_steps * batch / seconds if seconds > 0 else math.nan
    row["nonfinite_steps"] = int(row["nonfinite_steps"])
    return row
