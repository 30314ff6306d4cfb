"""One trial: train one configuration of a task, measure what the theorem is about, summarise.

Runs on its own (`regclip-bench train`) and, unchanged, inside a Ray Tune trial: all contact with
the outside goes through the `Reporter`.  What is specific to a kind of task (its loss and its
metrics) comes from `kinds`; what is specific to an optimizer, from its `diagnostics()`.
"""

from __future__ import annotations

import dataclasses
import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from .config import TrialConfig, pick_device
from .data import load_data
from .deadline import Deadline, TrialTimeout
from .diagnostics import StepDiagnostics, StepMeasure, tensors_norm
from .graphs import CapturedStep
from .kinds import KINDS
from .loop import Cadence, Clock, device_fields, finish, logged_row, step_graph_of, time_to_target
from .memory import is_out_of_memory, memory_shortfall, parameter_count
from .models import build_model
from .optim.base import OptimizerEntry
from .optim.plugins import raised_by
from .progress import Reporter
from .sharpness import model_sharpness
from .summary import Ending, Status


@dataclass
class TrialState:
    """Everything a trial needs to go on exactly where it stopped: what a checkpoint holds."""
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    batches: Any   # data.batcher(): its next() feeds data.batch()
    diag: StepDiagnostics
    generator: torch.Generator
    w0: list[torch.Tensor]
    step: int = 0
    steps: list[dict] = field(default_factory=list)        # the logged rows
    evals: list[dict] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)  # training seconds after each step

    OBJECTS = ("model", "optimizer", "batches", "diag")   # saved by their own state_dict
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


def run_trial(config: TrialConfig, reporter: Reporter | None = None, resume: dict[str, Any] | None = None,
              time_limit_s: float | None = None, capture: bool = False) -> dict[str, Any]:
    """Train `config` and return its record (`loop.finish`); the step and eval rows go to `reporter`
    and are also returned under "steps" and "evals".  `resume` is a state handed to
    `Reporter.checkpoint`: training continues after its step, exactly as it would have.
    `time_limit_s`: past it, the trial ends as `timed_out`.  `capture`: replay the training step from a
    CUDA graph where the optimizer allows it (`graphs.CapturedStep`; the numbers are the same)."""
    reporter = reporter or Reporter()
    task = config.task
    budget = task.budget
    kind = KINDS[task.loss]
    entry = config.entry
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)  # batch order and augmentation
    data = load_data(task.data, device)
    batches = data.batcher(None if budget.batch_size == "full" else budget.batch_size, generator, device)
    per_epoch = batches.steps_per_epoch
    total_steps = budget.steps or budget.epochs * per_epoch
    cadence = Cadence.of(budget, total_steps)
    shortfall = memory_shortfall(task, data, entry.state_copies, device)
    if shortfall is not None:  # out of memory is a result: say so before allocating it
        return finish(config, [], [], Ending(Status.FAILED, shortfall, total_steps=total_steps,
                                             param_count=parameter_count(task, data), **device_fields(device)))
    model = build_model(task.model, data.input_shape, data.num_outputs).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    measure = StepMeasure(params)
    w0 = [p.detach().clone() for p in params]
    w0_norm = tensors_norm(w0).item()
    reporter.start(total_steps)
    clock = Clock()
    sample = data.probe()
    status, error, s = Status.COMPLETED, None, None
    graphed = capture and entry.capturable
    try:
        with Deadline(time_limit_s):
            opt = config.make_optimizer(params)
            schedule = _Schedule(config, opt, per_epoch)
            s = TrialState(model, opt, batches, StepDiagnostics(device, task.target.tracked_loss()), generator, w0)
            if resume is None:   # the metrics at w₀: what "no progress" and capped scores compare with
                with clock.aside(), evaluating(opt, entry):
                    s.evals.append({"step": 0, "epoch": 0.0, "train_loss": kind.probe(model, sample),
                                    **kind.evaluate(model, data)})
                reporter.eval(s.evals[0])
            else:
                s.load_state_dict(resume)
                clock = Clock(trained=s.step_times[-1] if s.step_times else 0.0)

            def train_step(x, y, logged=True):   # what a CUDA graph captures: everything but the batch
                loss = kind.loss(model, x, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                before = measure.before() if logged else None   # ‖g‖ and w, measured outside the optimizer
                opt.step()
                s.diag.update(loss, entry.diagnostics(opt, full=False))
                return measure.after(before) if logged else None

            captured = CapturedStep(train_step, device) if graphed else None
            clock.next_interval(s.step + 1)
            for s.step in range(s.step + 1, total_steps + 1):
                logged = cadence.logs(s.step)
                schedule.set(s.step)
                x, y = data.batch(batches.next(), generator)
                model.train()
                if captured is None:
                    measured = train_step(x, y, logged)
                else:   # measured every step: a graph is the same for every step
                    measured = captured(tuple(g["lr"] for g in opt.param_groups), x, y)
                s.step_times.append(clock.trained())
                if logged:
                    row = _read_row(s, entry, measured, w0_norm, len(x), *clock.interval(s.step))
                    if budget.sharpness_every and (len(s.steps) - 1) % budget.sharpness_every == 0:
                        with clock.aside():   # a diagnostic: not training time
                            row.update(_sharpness(kind, model, x, y, row, budget.sharpness_iterations))
                    clock.next_interval(s.step + 1)
                    reporter.log(row)
                    if row["nonfinite"] or row["nonfinite_steps"] > 0:
                        status = Status.DIVERGED
                        break
                if cadence.evaluates(s.step):
                    with clock.aside(), evaluating(opt, entry):
                        s.evals.append({"step": s.step, "epoch": s.step / per_epoch, **kind.evaluate(model, data)})
                    reporter.eval(s.evals[-1])
                if cadence.checkpoints(s.step):
                    reporter.checkpoint(s.step, s.state_dict)
    except TrialTimeout:
        status, error = Status.TIMED_OUT, f"timed out: past the trial's time limit of {time_limit_s:g} s"
    except Exception as exc:   # out of memory, or a plug-in's own error: a result; anything else: a bug
        status, error = Status.FAILED, failure(entry, exc)
    final = math.nan
    if status in (Status.COMPLETED, Status.DIVERGED):
        with evaluating(opt, entry):
            final = kind.probe(model, sample)
    return _record(config, s, Ending(status, error, w0_norm, steps_done=len(s.step_times) if s else 0,
                                     resumed_from_step=resume["step"] if resume else 0, total_steps=total_steps,
                                     param_count=sum(p.numel() for p in params), wall_time_s=clock.elapsed(),
                                     **device_fields(device)), final, step_graph_of(graphed, device))


class _Schedule:
    """η before each step from the trial's step schedule (`TrialConfig.lr_at` of each group's first η);
    an optimizer without one is left alone, whatever it keeps in its param groups."""

    def __init__(self, config: TrialConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> None:
        self.config, self.optimizer, self.per_epoch = config, optimizer, steps_per_epoch
        self.bases = [group.get("lr") for group in optimizer.param_groups]
        self.active = bool(config.milestones[0])

    def set(self, step: int) -> None:
        if self.active:
            for group, base in zip(self.optimizer.param_groups, self.bases):
                group["lr"] = self.config.lr_at(base, step, self.per_epoch)


def _record(config: TrialConfig, s: TrialState | None, end: Ending, final_probe: float,
            step_graph: str | None) -> dict[str, Any]:
    """The trial's record from its state (None: it failed before training began) and how it ended."""
    steps, evals, step_times = (s.steps, s.evals, s.step_times) if s is not None else ([], [], [])
    initial = evals[0]["train_loss"] if evals else math.nan
    return finish(config, steps, evals, dataclasses.replace(
        end, probe=(initial, final_probe), train_time_s=step_times[-1] if step_times else 0.0,
        **time_to_target(config.task.target, steps, evals, step_times)), step_graph)


def failure(entry: OptimizerEntry, exc: Exception) -> str:
    """What ended a trial as `failed`: out of memory, or an error raised in a plug-in optimizer's own
    code; any other exception is the suite's bug and is raised again."""
    if is_out_of_memory(exc):
        return f"out of memory: {str(exc).splitlines()[0]}"
    if raised_by(entry, exc):
        first = str(exc).splitlines()[0] if str(exc) else ""
        return f"optimizer {entry.name} raised {type(exc).__name__}" + (f": {first}" if first else "")
    raise exc


@contextmanager
def evaluating(optimizer: torch.optim.Optimizer, entry: OptimizerEntry):
    """Evaluation in the optimizer's evaluation mode (Schedule-Free's averaged weights: its eval()),
    back in training mode after (its train()); a plain optimizer has no modes."""
    if not entry.mode_switch:
        yield
        return
    optimizer.eval()
    try:
        yield
    finally:
        optimizer.train()


def stopped_record(config: TrialConfig, state: dict[str, Any]) -> dict[str, Any]:
    """The record of a trial stopped at `state` (a checkpoint's): a search's scheduler stopped it."""
    return finish(config, state["steps"], state["evals"],
                  Ending(Status.STOPPED, w0_norm=tensors_norm(state["w0"]).item(), steps_done=state["step"]))


def _sharpness(kind, model, x, y, row: dict[str, Any], iterations: int) -> dict[str, float]:
    """The Hessian's top eigenvalue on this batch, beside 2/η (and 2/(ηδ) for a clipping optimizer)."""
    out = {"sharpness": model_sharpness(kind, model, x, y, iterations), "sharpness_limit": 2 / row["lr"]}
    if row.get("clip_factor") is not None and row.get("floor"):
        out["sharpness_floor_limit"] = 2 / (row["lr"] * row["floor"])
    return out


def _read_row(s: TrialState, entry: OptimizerEntry, measured: dict[str, Any], w0_norm: float, batch: int,
              interval_steps: int, seconds: float) -> dict[str, Any]:
    """One logged step: what was measured of it (‖g‖, ‖Δw‖), ‖w − w₀‖, the optimizer's regime
    diagnostics and the interval's statistics, in one transfer from the device; appended to the rows."""
    d = entry.diagnostics(s.optimizer)
    params = [p.detach() for group in s.optimizer.param_groups for p in group["params"]]
    read = s.diag.read(interval_steps, d, {**measured, "dist_from_init": tensors_norm(torch._foreach_sub(params, s.w0))})
    row = logged_row(s.step, read, d.floor, d.clip_factor is not None,
                  s.optimizer.param_groups[0]["lr"], w0_norm, interval_steps, batch, seconds)
    s.steps.append(row)
    return row
