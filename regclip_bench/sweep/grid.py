"""Which trials a sweep runs: the grid over a task's keys, without duplicates, each keyed by a hash.

An optimizer's grid multiplies only the hyperparameters it accepts: γ and δ are axes for
δ-GClip, not for Adam.  Every trial is validated like `train --set` before anything starts.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from typing import Any

from ..config import HPARAM_KEYS, TrialConfig, resolve_trial
from ..errors import ConfigError
from ..optim import OPTIMIZERS
from ..spec import TaskSpec


@dataclass(frozen=True)
class PlannedTrial:
    key: str                     # stable hash of the resolved configuration
    overrides: dict[str, Any]    # what `resolve_trial` takes (flat keys)
    config: TrialConfig


def trial_key(config: TrialConfig) -> str:
    """The same configuration of the same task gives the same key on any machine, any day."""
    payload = {"task": config.task.model_dump(mode="json"), "optimizer": config.optimizer,
               "hparams": config.hparams, "seed": config.seed}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def plan_grid(task: TaskSpec, grid: dict[str, list[Any]] | None = None,
              fixed: dict[str, Any] | None = None, optimizers: list[str] | None = None,
              seeds: int | None = None) -> list[PlannedTrial]:
    """Expand the grid.  Keys not in `grid` come from the task's default search space;
    `fixed` values apply to every trial (hyperparameters only where the optimizer takes them)."""
    grid, fixed = dict(grid or {}), dict(fixed or {})
    space = task.search_space
    optimizers = optimizers or list(space.optimizers)
    for name in optimizers:
        if name not in OPTIMIZERS:
            raise ConfigError(f"--optimizers: unknown optimizer {name!r}; choose from: {', '.join(OPTIMIZERS)}")
    n_seeds = seeds if seeds is not None else space.seeds
    shared_axes = {"width": grid.pop("width", space.width), "depth": grid.pop("depth", space.depth),
                   "seed": list(range(n_seeds))}
    hparam_grid = {k: v for k, v in grid.items() if k in HPARAM_KEYS}
    shared_axes.update({k: v for k, v in grid.items() if k not in HPARAM_KEYS})
    for key in ("width", "depth", "seed"):
        fixed_value = fixed.pop(key, None)
        if fixed_value is not None:
            shared_axes[key] = [fixed_value]

    planned: dict[str, PlannedTrial] = {}
    for name in optimizers:
        accepted = OPTIMIZERS[name].accepts
        axes = {k: list(v) for k, v in space.optimizers.get(name, {}).items() if k not in fixed}
        axes.update({k: v for k, v in hparam_grid.items() if k in accepted})
        base = {k: v for k, v in fixed.items() if k not in HPARAM_KEYS or k in accepted}
        for required in OPTIMIZERS[name].required:
            if required not in axes and required not in base:
                default = task.defaults.hparams.get(name, {}).get(required)
                if default is None:
                    raise ConfigError(f"optimizer {name}: no values for {required} in the task's search "
                                      f"space; give them with --grid {required}=V1,V2")
                axes[required] = [default]
        all_axes = {**shared_axes, **axes}
        keys = list(all_axes)
        for values in itertools.product(*(all_axes[k] for k in keys)):
            overrides = {"optimizer": name, **base, **dict(zip(keys, values))}
            try:
                config = resolve_trial(task, overrides)
            except ConfigError as exc:
                raise ConfigError(f"grid point {_describe(overrides)}: {exc}") from None
            key = trial_key(config)
            planned.setdefault(key, PlannedTrial(key, overrides, config))
    return list(planned.values())


def _describe(overrides: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in overrides.items())


def describe_grid(trials: list[PlannedTrial]) -> list[str]:
    """Lines for the user: per optimizer, each key's values and the number of trials."""
    lines = []
    by_optimizer: dict[str, list[PlannedTrial]] = {}
    for trial in trials:
        by_optimizer.setdefault(trial.config.optimizer, []).append(trial)
    for name, group in by_optimizer.items():
        axes: dict[str, list] = {}
        for trial in group:
            for k, v in trial.overrides.items():
                if k != "optimizer" and v not in axes.setdefault(k, []):
                    axes[k].append(v)
        shown = "  ".join(f"{k}={','.join(str(v) for v in vs)}" for k, vs in axes.items())
        lines.append(f"  {name:24s} {len(group):4d} trials  {shown}")
    return lines


def plan_quick(task: TaskSpec, fixed: dict[str, Any] | None = None) -> list[PlannedTrial]:
    """The task's quick grid: widths × depths × seeds, each optimizer at its default hyperparameters."""
    quick = task.quick_grid
    if quick is None:
        raise ConfigError(f"task {task.name} has no quick_grid; give the grid with sweep --grid")
    trials: list[PlannedTrial] = []
    for name in quick.optimizers:
        defaults = {k: [v] for k, v in task.defaults.hparams[name].items()}
        trials += plan_grid(task, {"width": quick.width, "depth": quick.depth, **defaults}, fixed, [name],
                            quick.seeds)
    return trials
