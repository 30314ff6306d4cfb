"""Budgeted tuning in the spirit of AlgoPerf's external-tuning rules.

Each optimizer gets the same budget: `samples` trials drawn from the task's search space
(log-uniform in lr, γ and weight decay between the smallest and largest grid value;
uniform in δ; a choice among the listed widths and depths) by Optuna's TPE sampler through
Ray Tune, with ASHA stopping the trials that fall behind on the task's target metric at
its evaluations.  The budget, sampler and scheduler are recorded in the sweep's manifest.
"""

from __future__ import annotations

from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from ..errors import ConfigError
from ..optim.registry import hyperparameter_names, lookup
from ..optim.base import log_scaled
from ..spec import TaskSpec
from ..summary import recorded_name
from .grid import fill_required, known_optimizers

def target_metric(task: TaskSpec) -> tuple[str, str]:
    """(the metric Tune reports, min or max) for the task's target."""
    return recorded_name(task.target.metric), task.target.direction


def describe(space: dict[str, Any]) -> dict[str, str]:
    """Readable domains: loguniform(0.1, 3), choice([64, 256]), or the constant."""
    out = {}
    for key, domain in space.items():
        if isinstance(domain, tune.search.sample.Categorical):
            out[key] = f"choice({domain.categories})"
        elif isinstance(domain, tune.search.sample.Float):
            kind = "loguniform" if isinstance(domain.sampler, tune.search.sample.LogUniform) else "uniform"
            out[key] = f"{kind}({domain.lower:g}, {domain.upper:g})"
        else:
            out[key] = repr(domain)
    return out


def search_space(task: TaskSpec, optimizer: str, grid: dict[str, list[Any]],
                 fixed: dict[str, Any]) -> dict[str, Any]:
    """Tune domains for one optimizer; a key with a single value (or fixed) is a constant."""
    known_optimizers([optimizer])
    accepted = lookup(optimizer).accepts
    names = hyperparameter_names()
    # the workload is fixed — the task's own, or what --grid/--set give — as in every other mode: a search
    # over widths and depths would compare trials of different workloads
    values: dict[str, list[Any]] = {"width": [task.model.width], "depth": [task.model.depth],
                                    **task.search_space.optimizers.get(optimizer, {})}
    values.update({k: v for k, v in grid.items() if k in accepted or k not in names})
    several = sorted(k for k, v in grid.items() if k not in names and len(set(map(str, v))) > 1)
    if several:
        raise ConfigError(f"--grid {several[0]}=…: search mode tunes one workload (a search over "
                          f"{several[0]} would compare trials of different workloads); give one value with "
                          f"--set {several[0]}=VALUE, and one search per workload")
    fill_required(task, optimizer, values, fixed)
    space: dict[str, Any] = {}
    for key, options in values.items():
        if key in fixed or (key in names and key not in accepted):
            continue
        low, high = min(options), max(options)
        if len(options) == 1 or low == high:
            space[key] = options[0]
        elif log_scaled(key) and low > 0:
            space[key] = tune.loguniform(low, high)
        elif key == "delta":
            space[key] = tune.uniform(low, high)
        else:
            space[key] = tune.choice(list(options))
    return space


def search_config(task: TaskSpec, samples: int, seed: int) -> tuple[tune.TuneConfig, dict[str, Any]]:
    """The TuneConfig of one optimizer's search, and its description for the manifest.
    `task` carries the sweep's fixed overrides: its budget sets ASHA's horizon."""
    metric, mode = target_metric(task)
    budget = task.budget
    # Tune hears from a trial at each evaluation before the last, then once at the end.
    evaluations = budget.steps // budget.eval_every + 1 if budget.steps else 10_000
    scheduler = ASHAScheduler(metric=metric, mode=mode, max_t=evaluations, grace_period=1,
                              reduction_factor=3)
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)   # no "[I …] A new study created" lines: the sweep says
    searcher = OptunaSearch(metric=metric, mode=mode, seed=seed)
    config = tune.TuneConfig(search_alg=searcher, scheduler=scheduler, num_samples=samples,
                             reuse_actors=True)
    described = {"samples_per_optimizer": samples, "sampler": "optuna TPE", "sampler_seed": seed,
                 "scheduler": "ASHA", "metric": metric, "metric_mode": mode, "grace_period": 1,
                 "reduction_factor": 3, "max_t_evaluations": evaluations}
    return config, described
