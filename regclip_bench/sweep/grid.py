"""Which trials a sweep runs: the grid over a task's keys, without duplicates, each keyed by a hash.

An optimizer's grid multiplies only the hyperparameters it accepts: γ and δ are axes for
δ-GClip, not for Adam.  Every trial is validated like `train --set` before anything starts.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

from ..config import TrialConfig, resolve_trial
from ..errors import ConfigError
from ..identity import trial_key
from ..optim.registry import hyperparameter_names, lookup
from ..spec import TaskSpec


# The most trials one sweep plans: far beyond any this suite runs (a budget of 16 over every family and
# workload of a task is a few thousand), so that a typo is a one-line error, not a plan that never ends.
MAX_TRIALS = 100_000


@dataclass(frozen=True)
class PlannedTrial:
    key: str                     # stable hash of the resolved configuration
    overrides: dict[str, Any]    # what `resolve_trial` takes (flat keys)
    config: TrialConfig


def plan_grid(task: TaskSpec, grid: dict[str, list[Any]] | None = None,
              fixed: dict[str, Any] | None = None, optimizers: list[str] | None = None,
              seeds: int | None = None) -> list[PlannedTrial]:
    """Expand the grid.  Keys not in `grid` come from the task's default search space;
    `fixed` values apply to every trial (hyperparameters only where the optimizer takes them)."""
    grid, fixed = dict(grid or {}), dict(fixed or {})
    space = task.search_space
    optimizers = known_optimizers(optimizers or list(space.optimizers))
    shared_axes = _shared_axes(task, grid, fixed, seeds)
    names = hyperparameter_names()
    hparam_grid = {k: v for k, v in grid.items() if k in names}
    check_taken(optimizers, hparam_grid, "--grid")
    check_taken(optimizers, [k for k in fixed if k in names], "--set")

    plans = []
    for name in optimizers:
        accepted = lookup(name).accepts
        axes = {k: list(v) for k, v in space.optimizers.get(name, {}).items() if k not in fixed}
        axes.update({k: v for k, v in hparam_grid.items() if k in accepted})
        base = {k: v for k, v in fixed.items() if k not in names or k in accepted}
        fill_required(task, name, axes, base)
        plans.append((name, base, {**shared_axes, **axes}))
    check_size(sum(math.prod(map(len, axes.values())) for _, _, axes in plans))
    planned: dict[str, PlannedTrial] = {}
    for name, base, axes in plans:
        for point in _product(axes):
            _add(planned, task, {"optimizer": name, **base, **point})
    return list(planned.values())


def check_taken(optimizers: list[str], keys, flag: str) -> None:
    """A hyperparameter that no optimizer of the sweep takes would be dropped without a word: refuse it
    (one that some take applies to those, as the plan's lines show)."""
    for key in keys:
        if not any(key in lookup(o).accepts for o in optimizers):
            takes = "; ".join(f"{o} takes {', '.join(sorted(lookup(o).accepts))}" for o in optimizers[:3])
            raise ConfigError(f"{flag} {key}=…: no optimizer of this sweep takes {key} "
                              f"({takes}{'; …' if len(optimizers) > 3 else ''})")


def check_size(trials: int) -> None:
    if trials > MAX_TRIALS:
        raise ConfigError(f"the sweep would plan {trials:,} trials, more than {MAX_TRIALS:,}: split it "
                          "(fewer --grid values, optimizers or --seeds per sweep)")


def fill_required(task: TaskSpec, optimizer: str, axes: dict[str, list[Any]], fixed: dict[str, Any]) -> None:
    """A required hyperparameter neither in `axes` nor `fixed` gets the task's default as its one value."""
    for required in lookup(optimizer).required:
        if required not in axes and required not in fixed:
            default = task.defaults.hparams.get(optimizer, {}).get(required)
            if default is None:
                raise ConfigError(f"optimizer {optimizer}: no values for {required} in the task's search "
                                  f"space; give them with --grid {required}=V1,V2")
            axes[required] = [default]


def known_optimizers(optimizers: list[str]) -> list[str]:
    """The optimizers' names, each looked up (a plug-in reference `[NAME=]module:Class` loaded and
    registered under its name)."""
    names = []
    for name in optimizers:
        try:
            names.append(lookup(name).name)
        except ConfigError as exc:
            raise ConfigError(f"--optimizers: {exc}") from None
    return names


def _shared_axes(task: TaskSpec, grid: dict[str, list[Any]], fixed: dict[str, Any],
                 seeds: int | None) -> dict[str, list[Any]]:
    """The axes every optimizer shares: width, depth, seeds and any task key (the workloads);
    takes them out of `grid` and `fixed`."""
    space = task.search_space
    n_seeds = seeds if seeds is not None else space.seeds
    axes = {"width": grid.pop("width", space.width), "depth": grid.pop("depth", space.depth),
            "seed": list(range(n_seeds))}
    names = hyperparameter_names()
    axes.update({k: grid.pop(k) for k in list(grid) if k not in names})
    for key in ("width", "depth", "seed"):
        fixed_value = fixed.pop(key, None)
        if fixed_value is not None:
            axes[key] = [fixed_value]
    return axes


def _product(axes: dict[str, list[Any]]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, values)) for values in itertools.product(*(axes[k] for k in keys))]


def _add(planned: dict[str, PlannedTrial], task: TaskSpec, overrides: dict[str, Any]) -> None:
    """Resolve one point like `train --set`; identical configurations collapse to one trial."""
    try:
        config = resolve_trial(task, overrides)
    except ConfigError as exc:
        raise ConfigError(f"grid point {_describe(overrides)}: {exc}") from None
    key = trial_key(config)
    planned.setdefault(key, PlannedTrial(key, overrides, config))


SEQUENCE = "scrambled Halton (scipy.stats.qmc.Halton)"


def budget_points(ranges: dict[str, Any], n: int, seed: int) -> list[dict[str, float]]:
    """The first `n` points of a seeded scrambled Halton sequence mapped onto `ranges`
    (log ranges log-uniformly, uniform ranges uniformly, lists by equal shares; a number is
    fixed), rounded to 4 significant digits.  The first n of n + m points are these n."""
    from scipy.stats import qmc

    from ..spec import Choice, LogRange, UniformRange

    drawn = sorted(k for k, r in ranges.items() if isinstance(r, (LogRange, UniformRange, Choice)))
    fixed = {k: float(r) for k, r in ranges.items() if k not in drawn}
    if not drawn:
        return [dict(fixed)]
    unit = qmc.Halton(d=len(drawn), scramble=True, seed=seed).random(n)
    points = []
    for row in unit:
        point = dict(fixed)
        for key, u in zip(drawn, row):
            rng = ranges[key]
            if isinstance(rng, LogRange):
                low, high = math.log(rng.log[0]), math.log(rng.log[1])
                value = math.exp(low + u * (high - low))
            elif isinstance(rng, UniformRange):
                value = rng.uniform[0] + u * (rng.uniform[1] - rng.uniform[0])
            else:
                value = rng.values[min(int(u * len(rng.values)), len(rng.values) - 1)]
            point[key] = float(f"{value:.4g}")
        points.append(point)
    return points


def describe_range(rng: Any) -> str:
    from ..spec import Choice, LogRange, UniformRange
    if isinstance(rng, LogRange):
        return f"loguniform({rng.log[0]:g}, {rng.log[1]:g})"
    if isinstance(rng, UniformRange):
        return f"uniform({rng.uniform[0]:g}, {rng.uniform[1]:g})"
    if isinstance(rng, Choice):
        return f"choice({', '.join(f'{v:g}' for v in rng.values)})"
    return f"{rng:g}"


def plan_budget(task: TaskSpec, budget: int, grid: dict[str, list[Any]] | None = None,
                fixed: dict[str, Any] | None = None, optimizers: list[str] | None = None,
                seeds: int | None = None, sequence_seed: int = 0,
                ranges: dict[str, dict[str, Any]] | None = None) -> tuple[list[PlannedTrial], dict[str, Any]]:
    """AlgoPerf-style external tuning: `budget` configurations per optimizer and workload, drawn
    from the task's `tuning` ranges (or `ranges`, per optimizer: a submission's) by a scrambled
    Halton sequence, each run with every seed.  `grid` and `fixed` give the workloads (width, depth,
    task keys); `fixed` may also pin a hyperparameter.  Returns the trials and what sweep.json
    records about the plan."""
    tuning = {**(task.tuning.optimizers if task.tuning is not None else {}), **(ranges or {})}
    if not tuning:
        raise ConfigError(f"--budget: task {task.name} declares no tuning ranges (a `tuning:` section)")
    grid, fixed = dict(grid or {}), dict(fixed or {})
    names = hyperparameter_names()
    hparams = sorted(k for k in grid if k in names)
    if hparams:
        raise ConfigError(f"--grid {hparams[0]}=…: with --budget the hyperparameters come from the task's "
                          f"tuning ranges; fix one with --set {hparams[0]}=VALUE")
    optimizers = known_optimizers(optimizers or list(tuning))
    missing = [o for o in optimizers if o not in tuning]
    if missing:
        raise ConfigError(f"--budget: task {task.name} has no tuning ranges for {missing[0]}; "
                          f"it has: {', '.join(tuning)}")
    check_taken(optimizers, [k for k in fixed if k in names], "--set")
    shared = _shared_axes(task, grid, fixed, seeds)
    check_size(budget * len(optimizers) * math.prod(map(len, shared.values())))
    workloads = _product(shared)
    planned: dict[str, PlannedTrial] = {}
    ranges_used: dict[str, dict[str, str]] = {}
    for name in optimizers:
        accepted = lookup(name).accepts
        pinned = {k: v for k, v in fixed.items() if k in names and k in accepted}
        drawn = {k: r for k, r in tuning[name].items() if k not in pinned}
        ranges_used[name] = {k: describe_range(r) for k, r in sorted(drawn.items())}
        ranges_used[name].update({k: f"{v:g}" for k, v in pinned.items()})
        base = {k: v for k, v in fixed.items() if k not in names}
        for point in budget_points(drawn, budget, sequence_seed):
            for workload in workloads:
                _add(planned, task, {"optimizer": name, **base, **pinned, **point, **workload})
    plan = {"mode": "budget", "budget_per_optimizer": budget, "sequence": SEQUENCE,
            "sequence_seed": sequence_seed, "seeds": len({w["seed"] for w in workloads}),
            "ranges": ranges_used}
    return list(planned.values()), plan


def plan_report(task: TaskSpec, trials: list[PlannedTrial], chosen: set[str]) -> list[PlannedTrial]:
    """The held-out trials of the protocol: each configuration in `chosen` (config keys, selected on the
    tuning seeds of `trials`) on every report seed of the task."""
    from ..identity import trial_identity
    from ..spec import report_seeds
    planned: dict[str, PlannedTrial] = {}
    first: dict[str, PlannedTrial] = {}
    for trial in trials:
        first.setdefault(trial_identity(trial.config)["config_key"], trial)
    for key in sorted(chosen):
        for seed in report_seeds(task):
            _add(planned, task, {**first[key].overrides, "seed": seed})
    return list(planned.values())


def describe_budget(trials: list[PlannedTrial], plan: dict[str, Any], values: bool = False) -> list[str]:
    """Lines for the user: the workloads, each optimizer's configurations and trials, and (`values`)
    every configuration drawn, in the sequence's order."""
    from ..identity import workload_label
    workloads = dict.fromkeys(workload_label(t.config.task, t.config.base) for t in trials)
    lines = [f"  workloads: {', '.join(workloads)}"]
    for name, ranges in plan["ranges"].items():
        mine = [t for t in trials if t.config.optimizer == name]
        drawn = [k for k, v in ranges.items() if not _is_number(v)]
        points = list(dict.fromkeys(tuple(t.config.hparams[k] for k in drawn) for t in mine))
        lines.append(f"  {name:24s} {len(points)} configurations, {len(mine)} trials  "
                     + "  ".join(f"{k}={v}" for k, v in ranges.items()))
        if values:
            lines += [f"    {i + 1:3d}  " + "  ".join(f"{k}={v:.4g}" for k, v in zip(drawn, point))
                      for i, point in enumerate(points)]
    return lines


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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
    """The task's quick grid: widths × depths × seeds, each optimizer at its default hyperparameters (or the
    quick grid's own values for it),
    over the quick grid's `steps` where it gives them (`fixed`, the --set values, win)."""
    quick = task.quick_grid
    if quick is None:
        raise ConfigError(f"task {task.name} has no quick_grid; give the grid with sweep --grid")
    fixed = {**({"steps": quick.steps} if quick.steps else {}), **(fixed or {})}
    trials: list[PlannedTrial] = []
    for name in quick.optimizers:
        defaults = {**{k: [v] for k, v in task.defaults.hparams[name].items()}, **quick.hparams.get(name, {})}
        trials += plan_grid(task, {"width": quick.width, "depth": quick.depth, **defaults}, fixed, [name],
                            quick.seeds)
    return trials
