"""Packed trials: K configurations of one workload and one optimizer trained together in one
process (horizontally fused training; Wang et al., MLSys 2021), with torch.func.

Every member keeps what is its own in `run_trial`: initialisation from its seed, batch order from
its own generator, its hyperparameters ([K] tensors), δ-GClip's global norm over its own gradients,
its diagnostics.  Its record has the schema and keys of an unpacked trial's, and its numbers equal
them up to float rounding (`tests/test_packed.py`).  A member that diverges is recorded as diverged
at the logged step that saw it, as an unpacked trial is, and the others go on: members share no
arithmetic.  Memory: K copies of the model, its gradients and the optimizer state, and K batches.

Not packed (refused with a reason): models with batch-norm statistics (vmap cannot update them
per member), per-tensor δ-GClip, clip-norm SGD.  Models that draw noise in their forward pass
(the VAE) get each member's noise from a batched draw, so their members equal unpacked trials in
distribution, not number for number.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.func import functional_call, grad_and_value, stack_module_state, vmap

from .config import TrialConfig, pick_device
from .data import load_data
from .diagnostics import StepDiagnostics
from .graphs import CapturedStep
from .kinds import KINDS
from .models import build_model
from .packing import check_pack
from .optim.packed import PackedOptimizer, member_norms
from .progress import Reporter
from .summary import Ending, Status
from .loop import Cadence, Clock, device_fields, finish, logged_row, step_graph_of, time_to_target


@dataclass
class PackState:
    """Everything a pack needs to go on exactly where it stopped: what its checkpoint holds."""
    weights: list[torch.Tensor]       # stacked: [K, …] each
    optimizer: PackedOptimizer
    batchers: list[Any]
    generators: list[torch.Generator]
    diag: StepDiagnostics
    w0: list[torch.Tensor]
    k: int
    step: int = 0
    alive: list[int] = field(default_factory=list)
    status: list[Status] = field(default_factory=list)
    done_at: list[int] = field(default_factory=list)
    steps: list[list[dict]] = field(default_factory=list)
    evals: list[list[dict]] = field(default_factory=list)
    step_times: list[float] = field(default_factory=list)      # the pack's training seconds after each step
    member_times: list[list[float]] = field(default_factory=list)   # each member's share of them (alive members split a step)
    probes: list[list[float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        k = self.k
        self.alive = self.alive or list(range(k))
        self.status, self.done_at = self.status or [Status.COMPLETED] * k, self.done_at or [0] * k
        self.steps, self.evals = self.steps or [[] for _ in range(k)], self.evals or [[] for _ in range(k)]
        self.probes = self.probes or [[math.nan, math.nan] for _ in range(k)]
        self.member_times = self.member_times or [[] for _ in range(k)]

    VALUES = ("step", "alive", "status", "done_at", "steps", "evals", "step_times", "member_times", "probes")

    def state_dict(self) -> dict[str, Any]:
        return {"weights": [w.clone() for w in self.weights], "w0": self.w0,
                "optimizer": copy.deepcopy(self.optimizer.state_dict()), "diag": self.diag.state_dict(),
                "batchers": [b.state_dict() for b in self.batchers],
                "generators": [g.get_state() for g in self.generators], "torch_rng": torch.get_rng_state(),
                **{n: copy.deepcopy(getattr(self, n)) for n in self.VALUES}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for w, saved in zip(self.weights, state["weights"]):
                w.copy_(saved)
        self.w0 = [w.to(self.weights[0].device) for w in state["w0"]]
        self.optimizer.load_state_dict(state["optimizer"])
        self.diag.load_state_dict(state["diag"])
        for b, saved in zip(self.batchers, state["batchers"]):
            b.load_state_dict(saved)
        for g, saved in zip(self.generators, state["generators"]):
            g.set_state(saved)
        torch.set_rng_state(state["torch_rng"])
        for n in self.VALUES:
            setattr(self, n, state[n])


def run_pack(configs: list[TrialConfig], reporter: Reporter | None = None,
             resume: dict[str, Any] | None = None, capture: bool = False) -> list[dict[str, Any]]:
    """Train the configurations of one workload together; return one `run_trial`-shaped record
    each.  `reporter` gets `start` and, after each evaluation, `checkpoint` (whose state
    `resume` takes: training goes on after its step exactly as it would have).  `capture`: as
    `run_trial`'s."""
    check_pack(configs)
    reporter = reporter or Reporter()
    first, k = configs[0], len(configs)
    task = first.task
    budget = task.budget
    kind = KINDS[task.loss]
    device = pick_device(first.device)
    data = load_data(task.data, device)
    batch_size = None if budget.batch_size == "full" else budget.batch_size
    generators = [torch.Generator().manual_seed(c.seed) for c in configs]
    batchers = [data.batcher(batch_size, g, device) for g in generators]
    per_epoch = batchers[0].steps_per_epoch
    total_steps = budget.steps or budget.epochs * per_epoch
    cadence = Cadence.of(budget, total_steps)
    scheduled = bool(first.milestones[0])   # the members share the schedule (pack_key), not their η
    members = _Members(configs, task, data, device)
    weights = members.weights
    s = PackState(weights, PackedOptimizer(first.entry, weights, [c.hparams for c in configs]), batchers,
                  generators, StepDiagnostics(device, task.target.tracked_loss(), shape=(k,)),
                  [w.clone() for w in weights], k)
    shared_batch = batch_size is None and getattr(data, "transform", None) is None   # one batch for all
    step_fn = vmap(grad_and_value(members.loss(kind)), in_dims=(0, 0, None, None) if shared_batch else 0,
                   randomness="different")
    reporter.start(total_steps)
    clock = Clock()
    sample = data.probe()
    if resume is None:   # each member's metrics at w₀
        with clock.aside():
            _evaluate(s, range(k), kind, members, data, per_epoch, sample)
    else:
        s.load_state_dict(resume)
        clock = Clock(trained=s.step_times[-1] if s.step_times else 0.0)
    resumed_from = s.step
    w0_norms = member_norms(s.w0).tolist()
    clock.next_interval(s.step + 1)

    def pack_step(x, y, logging=True):   # what a CUDA graph captures: everything but the batch
        with torch.enable_grad():
            grads, loss = step_fn(members.params, members.buffers, x, y)
        before = [w.clone() for w in weights] if logging else None   # for ‖Δw‖ per member
        s.optimizer.step([grads[n] for n in members.names], measure=logging)
        s.diag.update(loss, s.optimizer.diagnostics())
        return member_norms(torch._foreach_sub(weights, before)) if logging else None

    graphed = capture and first.entry.capturable
    captured = CapturedStep(pack_step, device) if graphed else None
    with torch.no_grad():
        for s.step in range(s.step + 1, total_steps + 1):
            x, y = _next_batch(data, batchers, generators, shared_batch)
            logging = cadence.logs(s.step)
            if scheduled:
                s.optimizer.set_lrs([first.lr_at(base, s.step, per_epoch) for base in s.optimizer.base_lr])
            if captured is None:
                update_norm = pack_step(x, y, logging)
            else:   # measured every step: a graph is the same for every step
                update_norm = captured(tuple(s.optimizer.lr_values), x, y)
            _add_step_time(s, clock.trained())
            if logging:
                rows = _log_rows(s, update_norm, w0_norms, len(x) if shared_batch else x.shape[1],
                                 *clock.interval(s.step))
                clock.next_interval(s.step + 1)
                _append_rows(s, rows, lambda i: kind.probe(members.model(i), sample))
            if cadence.evaluates(s.step):
                with clock.aside():
                    _evaluate(s, s.alive, kind, members, data, per_epoch)
            if cadence.checkpoints(s.step) and s.alive:
                reporter.checkpoint(s.step, s.state_dict)
            if not s.alive:
                break
    for i in s.alive:   # the members that trained to the end
        s.done_at[i] = s.step
        s.probes[i][1] = kind.probe(members.model(i), sample)
    wall = clock.elapsed()
    return [_member_record(s, i, c, Ending(
        s.status[i], None, w0_norms[i], tuple(s.probes[i]), steps_done=s.done_at[i], resumed_from_step=resumed_from,
        total_steps=total_steps, param_count=sum(w[i].numel() for w in weights), wall_time_s=wall,
        **device_fields(device)), step_graph_of(graphed, device)) for i, c in enumerate(configs)]


class _Members:
    """The K members' models stacked for `torch.func`: their weights ([K, …] each, in the models' parameter
    order), buffers, the loss of one member's weights, and a real module loaded with one member's weights
    (`model(i)`) to evaluate it."""

    def __init__(self, configs: list[TrialConfig], task, data, device) -> None:
        models = []
        for c in configs:   # as run_trial builds it: the global RNG seeded with the member's seed
            torch.manual_seed(c.seed)
            models.append(build_model(task.model, data.input_shape, data.num_outputs).to(device))
        self.params, self.buffers = stack_module_state(models)
        self.names = list(self.params)
        self.weights = [self.params[n].requires_grad_(False) for n in self.names]
        self.evaluator = copy.deepcopy(models[0])
        self.base = copy.deepcopy(models[0]).to("meta")

    def loss(self, kind):
        def member_loss(p, b, x, y):
            return kind.loss(lambda inputs: functional_call(self.base, (p, b), (inputs,)), x, y)
        return member_loss

    def model(self, i: int) -> torch.nn.Module:
        with torch.no_grad():
            for n, w in zip(self.names, self.weights):
                self.evaluator.get_parameter(n).copy_(w[i])
        return self.evaluator


def _next_batch(data, batchers: list, generators: list, shared: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's batch: one for every member (full batch, no augmentation), else each member's own,
    stacked ([K, B, …])."""
    batches = [data.batch(b.next(), g) for b, g in zip(batchers, generators)]
    if shared:
        return batches[0]
    return torch.stack([b[0] for b in batches]), torch.stack([b[1] for b in batches])


def _append_rows(s: PackState, rows: list[dict[str, Any]], final_probe) -> None:
    """Each alive member's logged row; a member whose row is not finite diverged: it is frozen from here
    on (its last probe taken now), and the others go on."""
    for i in list(s.alive):
        s.steps[i].append(rows[i])
        if rows[i]["nonfinite"] or rows[i]["nonfinite_steps"] > 0:
            s.status[i], s.done_at[i] = Status.DIVERGED, s.step
            s.probes[i][1] = final_probe(i)
            s.alive.remove(i)


def _add_step_time(s: PackState, trained: float) -> None:
    """The pack's training seconds after this step, and each alive member's share of the step."""
    s.step_times.append(trained)
    share = (s.step_times[-1] - (s.step_times[-2] if len(s.step_times) > 1 else 0.0)) / len(s.alive)
    for i in s.alive:
        s.member_times[i].append((s.member_times[i][-1] if s.member_times[i] else 0.0) + share)


def _evaluate(s: PackState, which, kind, members: _Members, data, per_epoch: int, sample=None) -> None:
    """The test metrics of members `which` at this step (and, given the probe `sample`, at w₀: the
    training loss on it too)."""
    for i in which:
        model = members.model(i)
        row = {"step": s.step, "epoch": s.step / per_epoch}
        if sample is not None:
            s.probes[i][0] = row["train_loss"] = kind.probe(model, sample)
        s.evals[i].append({**row, **kind.evaluate(model, data)})


def _member_record(s: PackState, i: int, config: TrialConfig, end: Ending, step_graph: str | None) -> dict[str, Any]:
    """Member i's record, shaped as `run_trial`'s: its own training seconds (its share of the pack's) and
    the pack's up to where the member stopped."""
    times = s.member_times[i]
    return finish(config, s.steps[i], s.evals[i], dataclasses.replace(
        end, train_time_s=times[-1] if times else 0.0,
        pack_train_time_s=s.step_times[s.done_at[i] - 1] if s.done_at[i] else 0.0,
        **time_to_target(config.task.target, s.steps[i], s.evals[i], times)), step_graph)


def _log_rows(s: PackState, update_norm: torch.Tensor, w0_norms: list[float], batch: int, interval_steps: int,
              seconds: float) -> list[dict[str, Any]]:
    """Every member's logged row (the keys of `run_trial`'s), in one transfer from the device."""
    opt = s.optimizer
    d = opt.diagnostics()
    measured = {"grad_norm": d.grad_norm, "update_norm": update_norm,
                "dist_from_init": member_norms(torch._foreach_sub(s.weights, s.w0))}
    members = s.diag.read_members(interval_steps, d, measured)
    return [logged_row(s.step, read, opt.values["delta"][i] if d.floor is not None else None, d.clip_factor is not None,
                    opt.lr_values[i], w0_norms[i], interval_steps, batch, seconds)
            for i, read in enumerate(members)]
