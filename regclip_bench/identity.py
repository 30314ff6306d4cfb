"""What a result is a result *of*: workload, configuration and trial keys, and a workload's label
(docs/protocol.md).  A workload is everything of the resolved task that can change a result but the
optimizer, its hyperparameters and the seed; each key is 16 hex digits of SHA-256 over canonical
JSON, the same on any machine, any day.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from .memo import PerObject

if TYPE_CHECKING:
    from .config import TrialConfig
    from .spec import TaskSpec

WORKLOAD_SECTIONS = ("model", "data", "loss", "budget", "target")
# Where the data lives and how it is fetched or checked do not change the workload, nor does measuring
# the sharpness (it leaves the weights and every random stream as they were, and its time is not
# training time).
NOT_WORKLOAD = frozenset({"data.root", "data.download", "data.verify_checksums",
                          "budget.sharpness_every", "budget.sharpness_iterations"})
# The fields of a flat configuration that are not its optimizer's hyperparameters.
NOT_HYPERPARAMETERS = frozenset({"task", "optimizer", "seed", "width", "depth", "steps", "epochs", "batch_size"})
# Dotted fields with a flat `--set` name: the label uses the flat name.
FLAT_NAMES = {"model.width": "width", "model.depth": "depth", "budget.steps": "steps",
              "budget.epochs": "epochs", "budget.batch_size": "batch_size",
              "budget.log_every": "log_every", "budget.eval_every": "eval_every"}


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else key, out)
    else:
        out[prefix] = value
    return out


_CANONICAL = PerObject()   # per TaskSpec object (frozen): a plan's trials share one


def _canonical(task: TaskSpec) -> tuple[dict[str, Any], str, str]:
    """The workload as flat dotted fields, its key and its canonical JSON, computed once per task object."""
    def compute() -> tuple[dict[str, Any], str, str]:
        dumped = task.model_dump(mode="json")
        flat = _flatten({k: dumped[k] for k in WORKLOAD_SECTIONS}, "", {})
        mine = {"task": task.name, **{k: v for k, v in sorted(flat.items()) if k not in NOT_WORKLOAD}}
        return mine, digest(mine), json.dumps(mine, sort_keys=True)
    return _CANONICAL.get(task, None, compute)


def workload(task: TaskSpec) -> dict[str, Any]:
    """The workload as flat dotted fields, e.g. {"task": "teacher_mlp", "model.width": 1024, …}."""
    return dict(_canonical(task)[0])


def digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def workload_key(task: TaskSpec) -> str:
    return _canonical(task)[1]


def config_key(workload_key_: str, optimizer: str, hparams: dict[str, Any], schedule: Any = None,
               source: str | None = None) -> str:
    """The optimizer's own schedule, when it has one, and a plug-in's source (its SHA-256) are part of
    its configuration: changed code is a new configuration, never a finished one."""
    return digest({"workload": workload_key_, "optimizer": optimizer, "hparams": hparams,
                   **({"schedule": schedule} if schedule else {}), **({"source": source} if source else {})})


def seeded_key(config_key_: str, seed: int) -> str:
    return digest({"config": config_key_, "seed": seed})


def workload_label(task: TaskSpec, base: TaskSpec | None) -> str:
    """The task's name and the workload fields that differ from `base` (its file), e.g.
    ``teacher_mlp[depth=4,width=1024]``; just the name when none does."""
    mine = _canonical(task)[0]
    return _label(task.name, mine, _canonical(base)[0] if base is not None else mine)


def _label(name: str, mine: dict[str, Any], theirs: dict[str, Any]) -> str:
    changed = {FLAT_NAMES.get(k, k): v for k, v in mine.items() if theirs.get(k) != v and v is not None}
    if not changed:
        return name
    return f"{name}[{','.join(f'{k}={_short(v)}' for k, v in sorted(changed.items()))}]"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "/".join(_short(v) for v in value)
    return str(value)


def trial_identity(config: TrialConfig) -> dict[str, str]:
    """The keys and label of a resolved trial, as the store records them."""
    mine, workload_, workload_json = _canonical(config.task)   # every key and the label derive from it
    configuration = config_key(workload_, config.optimizer, config.hparams,
                               config.schedule.model_dump() if config.schedule else None,
                               (config.plugin or {}).get("sha256"))
    label = _label(config.task.name, mine, _canonical(config.base)[0] if config.base is not None else mine)
    return {"workload_key": workload_, "workload": label,
            "config_key": configuration, "trial_key": seeded_key(configuration, config.seed),
            "workload_json": workload_json}


def trial_key(config: TrialConfig) -> str:
    """The same configuration and seed of the same workload gives the same key anywhere."""
    return trial_identity(config)["trial_key"]


def identity_from_flat(flat: dict[str, Any]) -> dict[str, str]:
    """Keys of a trial known only by its flat configuration (a schema-1 store, a submission).

    The workload is the shipped task file with the flat fields applied (width, depth, steps,
    epochs, batch size): other overrides were not recorded by schema 1, so a trial that had
    them gets the key of the file's workload.  A task this version does not ship is keyed
    by its flat fields alone."""
    name = str(flat.get("task"))
    known = flat_workload(flat)
    resolved = flat_task(flat)
    if resolved is not None:
        task, base = resolved
        workload_, label = workload_key(task), workload_label(task, base)
        workload_json = _canonical(task)[2]
    else:
        payload = {"task": name, **known}
        workload_, workload_json = digest(payload), json.dumps(payload, sort_keys=True)
        label = f"{name}[{','.join(f'{k}={_short(v)}' for k, v in sorted(known.items()))}]"
    configuration = config_key(workload_, str(flat.get("optimizer")), optimizer_arguments(flat), flat.get("schedule"))
    return {"workload_key": workload_, "workload": label, "config_key": configuration,
            "workload_json": workload_json}


def flat_workload(flat: dict[str, Any]) -> dict[str, Any]:
    """The workload fields a flat configuration records (width, depth, steps, epochs, batch size)."""
    known = {k: flat[k] for k in ("width", "depth", "steps", "epochs", "batch_size") if flat.get(k) is not None}
    if isinstance(known.get("batch_size"), str) and known["batch_size"].isdigit():
        known["batch_size"] = int(known["batch_size"])
    return known


def flat_task(flat: dict[str, Any]) -> tuple[TaskSpec, TaskSpec] | None:
    """(the task a flat configuration names, resolved; its file), or None for a task this version does not
    ship."""
    from .spec import apply_task_overrides, load_task, task_names
    name = str(flat.get("task"))
    if name not in task_names():
        return None
    base = load_task(name)
    return apply_task_overrides(base, flat_workload(flat)), base


def optimizer_arguments(flat: dict[str, Any]) -> dict[str, Any]:
    """What a flat configuration gives its optimizer: neither workload fields, the seed nor the schedule."""
    return {k: v for k, v in flat.items() if k not in NOT_HYPERPARAMETERS | {"schedule"} and v is not None}
