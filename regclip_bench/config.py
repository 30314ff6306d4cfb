"""One trial's configuration: a task plus a flat set of overrides, resolved and validated.

The flat keys are the same everywhere (`train --set`, sweeps, results):

* trial: width, depth, optimizer, seed, device, and the optimizer's hyperparameters
  (lr, gamma, delta, weight_decay, momentum, …: whatever it accepts);
* budget: steps, epochs, batch_size, log_every, eval_every;
* any other task field by its dotted path, e.g. ``data.download`` or ``model.activation``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from ._lazy import Lazy
from .errors import ConfigError
from .memo import PerObject
from .optim.base import OptimizerEntry
from .optim.registry import hyperparameter_names, lookup
from .spec import BUDGET_KEYS, MAX_SEED, MODEL_KEYS, Schedule, TaskSpec, apply_task_overrides

torch = Lazy("torch")   # only to pick and check a device: resolving a trial needs no torch

TRIAL_KEYS = ("optimizer", "seed", "device")


@dataclass(frozen=True)
class TrialConfig:
    """A trial resolved and checked once: what a worker receives (`to_dict`) and runs as it is."""
    task: TaskSpec            # with the overrides applied
    optimizer: str
    hparams: dict[str, Any]   # every hyperparameter of the optimizer, defaults included, checked
    seed: int
    device: str               # "auto", "cpu", "cuda", "cuda:1", …
    base: TaskSpec | None = field(default=None, compare=False, repr=False)  # the task as its file has it
    schedule: Schedule | None = None   # the optimizer's own (defaults.schedules), in place of the budget's
    plugin: dict[str, Any] | None = field(default=None, compare=False, repr=False)   # a plug-in's descriptor

    @property
    def entry(self) -> OptimizerEntry:
        return lookup(self.optimizer, self.plugin)

    def make_optimizer(self, params) -> torch.optim.Optimizer:
        """The optimizer over `params`, from the resolved values (nothing is checked again)."""
        return self.entry.build(params, **self.hparams)

    def flat(self) -> dict[str, Any]:
        budget = self.task.budget
        return {"task": self.task.name, "optimizer": self.optimizer, "width": self.task.model.width,
                "depth": self.task.model.depth, **self.hparams, "seed": self.seed,
                "steps": budget.steps, "epochs": budget.epochs, "batch_size": budget.batch_size,
                **({"schedule": self.schedule.model_dump()} if self.schedule else {})}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values, for a Ray Tune trial's configuration."""
        return {"task": self.task.model_dump(mode="json"), "optimizer": self.optimizer, "hparams": self.hparams,
                "seed": self.seed, "device": self.device,
                "base": self.base.model_dump(mode="json") if self.base is not None else None,
                "schedule": self.schedule.model_dump() if self.schedule else None, "plugin": self.plugin}

    @staticmethod
    def from_dict(raw: dict[str, Any]) -> TrialConfig:
        return TrialConfig(TaskSpec.model_validate(raw["task"]), raw["optimizer"], dict(raw["hparams"]), raw["seed"],
                           raw["device"], TaskSpec.model_validate(raw["base"]) if raw["base"] else None,
                           Schedule.model_validate(raw["schedule"]) if raw["schedule"] else None, raw["plugin"])

    @property
    def milestones(self) -> tuple[list[int], float]:
        """(milestones, decay) of η for this optimizer: its own schedule, else the budget's."""
        schedule = self.schedule or self.task.budget.schedule
        return schedule.lr_milestones, schedule.lr_decay

    def milestone_steps(self, steps_per_epoch: int) -> tuple[list[int], float]:
        """`milestones` in steps (they are in epochs when the budget is)."""
        milestones, decay = self.milestones
        return [m * steps_per_epoch if self.task.budget.epochs else m for m in milestones], decay

    def lr_at(self, base: float, step: int, steps_per_epoch: int) -> float:
        """η at `step` (1, 2, …) from `base`: times the decay once for each milestone already passed
        (m ≤ step − 1), multiplied in turn as torch's MultiStepLR does — the one schedule of both
        training loops, so that a packed member and the same trial alone take the same floats."""
        milestones, decay = self.milestone_steps(steps_per_epoch)
        lr = base
        for _ in range(bisect.bisect_right(sorted(milestones), step - 1)):
            lr *= decay
        return lr


def parse_value(text: str) -> Any:
    """A --set value: int, float, true/false, or the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_assignments(pairs: list[str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE")
        if key.strip() in overrides:
            raise ConfigError(f"--set {key.strip()}: given twice")
        overrides[key.strip()] = parse_value(value)
    return overrides


# A plan resolves thousands of trials over a few workloads: each distinct workload is validated once
# (TaskSpec is frozen, so trials share it).  Keyed by the task object and the workload fields given.
_WORKLOADS = PerObject()


def _workload_of(task: TaskSpec, overrides: dict[str, Any]) -> TaskSpec:
    """`task` with the workload fields of `overrides` applied (and removed from it): apply_task_overrides,
    remembered."""
    given = {k: overrides.pop(k) for k in list(overrides) if k in BUDGET_KEYS or k in MODEL_KEYS or "." in k}
    return _WORKLOADS.get(task, repr(sorted(given.items())), lambda: apply_task_overrides(task, given))


def resolve_trial(task: TaskSpec, overrides: dict[str, Any] | None = None) -> TrialConfig:
    """The trial `overrides` make of `task`, every value checked, every hyperparameter given."""
    overrides = dict(overrides or {})
    resolved = _workload_of(task, overrides)

    name = overrides.pop("optimizer", task.defaults.optimizer)
    try:
        entry = lookup(name)
    except ConfigError as exc:
        raise ConfigError(f"--set optimizer={name!r}: {exc}") from None
    seed = overrides.pop("seed", task.defaults.seed)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--set seed={seed!r}: must be an integer from 0 to {MAX_SEED}")
    device = overrides.pop("device", "auto")
    _check_device(device)

    known = hyperparameter_names()
    for key, value in overrides.items():
        if key not in known:
            accepted = BUDGET_KEYS + MODEL_KEYS + TRIAL_KEYS + known
            raise ConfigError(f"--set {key}={value!r}: unknown key; accepted: {', '.join(accepted)}, "
                              "or a dotted task field such as data.download")
        try:
            entry.check_names([key], complete=False)
        except ValueError as exc:
            raise ConfigError(f"--set {key}={value!r}: {exc}") from None
    # + 0: −0.0 (from a task file or a grid) is 0.0, one value with one trial key
    given = {k: v + 0 if isinstance(v, float) else v
             for k, v in {**task.defaults.hparams.get(entry.name, {}), **overrides}.items()}
    try:
        hparams = entry.resolve(given)
    except ValueError as exc:
        missing = [key for key in entry.required if key not in given]
        message = str(exc) if str(exc).startswith("optimizer ") else f"optimizer {entry.name}: {exc}"
        raise ConfigError(message + (f" (the task has no default: give it with --set {missing[0]}=VALUE)"
                                     if missing and " needs " in message else "")) from None
    return TrialConfig(resolved, entry.name, hparams, seed, device, base=task,
                       schedule=task.defaults.schedules.get(entry.name), plugin=entry.plugin)


def _check_device(device: Any) -> None:
    if device == "auto":
        return
    try:
        torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"--set device={device!r}: not a device; use auto, cpu, cuda or cuda:N") from None
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--set device={device!r}: CUDA is not available on this machine")


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
