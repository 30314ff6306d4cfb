"""Optimizers as code: a submission folder, checked, then run by the suite under the leaderboard's
protocol (`regclip-bench submit FOLDER`).

    FOLDER/submission.yaml   name, display_name, optimizer, tuning, hyperparameters, hooks
    FOLDER/optimizer.py      the optimizer (or `optimizer:` names an installed package's, module:Class)

The suite tunes it as it tunes its own optimizers — the same budget of N scrambled-Halton configurations
from its `tuning:` ranges (in the task files' syntax) on the tuning seeds, the chosen one on the held-out
seeds, the same scoring — on the headline
workloads of each task, and records with every trial where its code came from (the source's SHA-256,
the packages' versions).  A submission is code and runs with the user's privileges (docs/security.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import ConfigError
from .optim.base import OptimizerEntry
from .optim.plugins import PluginError, from_reference, from_source, state_copies
from .optim.registry import OPTIMIZERS, register
from .spec import Choice, LogRange, TuningRange, UniformRange, load_task, read_model

FILE = "submission.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hooks(_Strict):
    # optimizer.train() before training steps and .eval() around evaluation (Schedule-Free optimizers
    # need it); leave it out to tell from the class (it has train() and eval() methods)
    mode_switch: bool | None = None
    # an optimizer whose step() asks for a closure evaluates the loss several times per step, which the
    # protocol's step budget cannot compare: `true` is refused, with the reason
    closure: bool = False


Scalar = Annotated[int | float | bool, Field(union_mode="left_to_right")]


class SubmissionSpec(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_]{0,62}$")]
    display_name: Annotated[str, Field(min_length=1, max_length=80)]
    optimizer: Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*(\.py)?:[A-Za-z_][\w.]*$")]
    tuning: Annotated[dict[str, TuningRange], Field(min_length=1)]
    hyperparameters: dict[str, Scalar] = {}
    hooks: Hooks = Hooks()
    description: str = ""

    @field_validator("name")
    @classmethod
    def _not_built_in(cls, value: str) -> str:
        if value in OPTIMIZERS:
            raise ValueError(f"{value!r} is a built-in optimizer's name; choose another")
        return value


@dataclass(frozen=True)
class Submission:
    folder: Path
    spec: SubmissionSpec
    entry: OptimizerEntry

    @property
    def name(self) -> str:
        return self.spec.name


def load_submission(folder: str | Path) -> Submission:
    """A submission folder, checked: one line naming the file and field for anything wrong; nothing
    written, nothing run but the optimizer's import and one step on a tiny tensor."""
    folder = Path(folder)
    path = folder / FILE
    if not folder.is_dir():
        raise ConfigError(f"{folder}: not a submission folder (no such directory)")
    if not path.is_file():
        raise ConfigError(f"{path}: missing (a submission folder holds {FILE} and its optimizer)")
    spec = read_model(path, SubmissionSpec, "a submission file")
    if spec.hooks.closure:
        raise ConfigError(f"{path}: hooks.closure: an optimizer that needs a closure may evaluate the loss several "
                          "times per step, which the protocol's step budget cannot compare; not supported")
    try:
        entry = _entry(folder, path, spec)
    except PluginError as exc:
        raise ConfigError(f"{path}: optimizer: {exc}") from None
    _check_ranges(path, spec, entry)
    sample = {k: _inside(r) for k, r in spec.tuning.items()}
    try:   # one step on a tiny tensor, with values from inside the ranges: what its state costs in memory
        entry = _with_state(entry, state_copies(entry, entry.resolve(sample)))
    except (PluginError, ValueError) as exc:
        raise ConfigError(f"{path}: optimizer: {exc}") from None
    return Submission(folder, spec, entry)


def _entry(folder: Path, path: Path, spec: SubmissionSpec) -> OptimizerEntry:
    reference, _, attribute = spec.optimizer.partition(":")
    options = {"display": spec.display_name, "mode_switch": spec.hooks.mode_switch,
               "fixed": dict(spec.hyperparameters)}
    if reference.endswith(".py"):
        source = (folder / reference).resolve()
        if folder.resolve() not in source.parents:
            raise ConfigError(f"{path}: optimizer: {reference} is not a file in the submission folder")
        if not source.is_file():
            raise ConfigError(f"{path}: optimizer: {reference}: no such file in {folder}")
        return from_source(spec.name, source, attribute, origin=f"submission {spec.name}", **options)
    return from_reference(f"{spec.name}={spec.optimizer}", origin=f"submission {spec.name} ({spec.optimizer})",
                          **options)


def _check_ranges(path: Path, spec: SubmissionSpec, entry: OptimizerEntry) -> None:
    """Every tuned and fixed name a hyperparameter of the optimizer, each once; each range's ends valid
    values of it; every value it needs given."""
    accepted = entry.accepts
    for section, names in (("tuning", spec.tuning), ("hyperparameters", spec.hyperparameters)):
        for key in names:
            if key not in accepted:
                raise ConfigError(f"{path}: {section}.{key}: the optimizer does not take {key}; it accepts: "
                                  f"{', '.join(accepted)}")
    both = sorted(set(spec.tuning) & set(spec.hyperparameters))
    if both:
        raise ConfigError(f"{path}: {both[0]}: both tuned and fixed; give it in one of tuning and hyperparameters")
    for key, rng in spec.tuning.items():
        h = entry.hyperparameter(key)
        for value in _ends(rng):
            try:
                h.check(value)
            except ValueError as exc:
                raise ConfigError(f"{path}: tuning.{key}: {exc}") from None
        if h.range.log and isinstance(rng, UniformRange):
            raise ConfigError(f"{path}: tuning.{key}: give a log range ({{log: [low, high]}}), not a uniform one")
    missing = [k for k in entry.required if k not in spec.tuning]
    if missing:
        raise ConfigError(f"{path}: tuning: no range for {missing[0]}, which the optimizer needs")


def _ends(rng: Any) -> list[float]:
    if isinstance(rng, LogRange):
        return list(rng.log)
    if isinstance(rng, UniformRange):
        return list(rng.uniform)
    if isinstance(rng, Choice):
        return list(rng.values)
    return [rng]


def _inside(rng: Any) -> float:
    """A value inside a range (its geometric or arithmetic middle, a choice's first)."""
    if isinstance(rng, LogRange):
        return math.sqrt(rng.log[0] * rng.log[1])
    if isinstance(rng, UniformRange):
        return (rng.uniform[0] + rng.uniform[1]) / 2
    return _ends(rng)[0]


def _with_state(entry: OptimizerEntry, copies: int) -> OptimizerEntry:
    import dataclasses
    return dataclasses.replace(entry, state_copies=copies)


def headline_overrides(task_name: str, changed: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The fixed overrides (width, depth and the headline's own fields) of each headline workload, with
    the workload fields of `changed` (`submit --set`, e.g. epochs=10) over them."""
    from .spec import headline_workloads
    task = load_task(task_name)
    return [{**overrides, "width": workload.model.width, "depth": workload.model.depth, **(changed or {})}
            for overrides, workload in zip(task.headline, headline_workloads(task))]


def plan(submission: Submission, task_name: str, budget: int, seeds: int | None,
         sequence_seed: int, changed: dict[str, Any] | None = None) -> tuple[list, dict[str, Any]]:
    """The budgeted trials of the submission on the task's headline workloads (every seed of each), or
    on those workloads with the fields of `changed` set (`submit --set epochs=10`)."""
    from .optim.registry import hyperparameter_names
    from .sweep.grid import plan_budget
    register(submission.entry)
    pinned = sorted(set(changed or {}) & set(hyperparameter_names()))
    if pinned:
        raise ConfigError(f"--set {pinned[0]}: a submission's hyperparameters come from its tuning ranges; "
                          "--set changes the workload (width, depth, epochs, batch_size, …)")
    task = load_task(task_name)
    trials, described = [], None
    for fixed in headline_overrides(task_name, changed):
        planned, described = plan_budget(task, budget, fixed=fixed, optimizers=[submission.name], seeds=seeds,
                                         sequence_seed=sequence_seed, ranges={submission.name: submission.spec.tuning})
        trials += planned
    described = {**described, "submission": submission.name, "optimizer_origin": submission.entry.origin,
                 "optimizer_sha256": submission.entry.source_sha256, "headline_workloads": len(task.headline)}
    return trials, described
