"""Run planned trials on Ray Tune: a local embedded Ray by default, or a cluster at an address.

Ray Tune schedules, retries a crashed trial from its last checkpoint (`FailureConfig`),
and restores an interrupted experiment (`--resume`).  This layer adds what Tune's restore
cannot do: a sweep is a set of trials keyed by configuration hash, so running the same
sweep name with a larger grid runs only the configurations not finished yet.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

import pyarrow.fs as pafs

from ..errors import ConfigError
from ..spec import TaskSpec
from .grid import PlannedTrial
from ..storage import (NETWORK_FILESYSTEMS, filesystem, finished_keys, is_uri, join, mount_type, normalise,
                       read_json, remove_staged, sweep_lock, write_json)

from .session import check_reachable, ray_session

# Ray is imported inside `ray_session`, after it has set Ray's environment (quiet output, a
# token for a local cluster): the functions below import it where they use it.


@dataclass
class SweepOptions:
    name: str
    storage: str
    address: str | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_concurrent: int | None = None
    resume: bool = False
    max_failures: int = 3
    checkpoint_every_s: float = 10.0  # at the first evaluation after this many seconds
    pack: int = 1                     # up to this many trials of one workload and optimizer per Tune trial
    trial_time_limit_s: float | None = None   # a trial past it ends as timed_out
    cuda_graph: bool = False          # replay each training step from a CUDA graph (graphs.py)

    def trial_options(self) -> dict[str, Any]:
        """How every trial of the sweep runs: what its trainable reads beside the trial itself."""
        return {"sweep": self.name, "checkpoint_every_s": self.checkpoint_every_s,
                "time_limit_s": self.trial_time_limit_s, "cuda_graph": self.cuda_graph}


@dataclass
class SweepOutcome:
    sweep_dir: str
    planned: int
    already_done: int
    ran: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    errored: int = 0
    interrupted: bool = False
    errors: dict[str, int] = field(default_factory=dict)   # each distinct error's one line: how many trials
    most_at_once: int = 0   # the most configurations Tune ran at once (Progress.most_running)

    def error_lines(self) -> list[str]:
        return [f"errored ({n} trial{'s' * (n != 1)}): {line}" for line, n in self.errors.items()]


def run_sweep(trials: list[PlannedTrial], options: SweepOptions, task_dump: dict[str, Any],
              stream: TextIO | None = None, plan: dict[str, Any] | None = None) -> SweepOutcome:
    """Run the trials not finished yet; `plan` describes how they were chosen (sweep.json)."""
    _before_start(options)
    sweep_dir = join(normalise(options.storage), options.name)
    with sweep_lock(sweep_dir), storage_words(sweep_dir):
        outcome = _run_sweep(trials, options, task_dump, stream, plan)
        if not outcome.interrupted:
            _tidy(sweep_dir)
        return outcome


def _run_sweep(trials: list[PlannedTrial], options: SweepOptions, task_dump: dict[str, Any],
               stream: TextIO | None, plan: dict[str, Any] | None) -> SweepOutcome:
    storage = normalise(options.storage)
    sweep_dir = join(storage, options.name)
    _set_aside_damaged(sweep_dir, options.name, stream)
    done = finished_keys(sweep_dir)
    todo = [t for t in trials if t.key not in done]
    outcome = SweepOutcome(sweep_dir, len(trials), len(trials) - len(todo))
    if not todo and not options.resume:
        return outcome

    experiments = join(sweep_dir, "tune")
    previous = _latest_experiment(experiments) if options.resume else None   # there is one (_before_start)
    with _session(options) as trainable:
        from ray import tune

        from .progress import Progress
        from .trainable import scored_metric
        if previous is not None:
            with quiet_tune():
                tuner = tune.Tuner.restore(previous, trainable, resume_unfinished=True, resume_errored=True)
            _fit(tuner, None, outcome, skip=done)  # the restored experiment brings its own Progress
            todo = [t for t in trials if t.key not in finished_keys(sweep_dir)]
            restored = previous.rstrip("/").rsplit("/", 1)[-1]
            if not outcome.interrupted and _run_complete(sweep_dir, restored, outcome.errored):
                record_finished(sweep_dir, restored, outcome.errored)
        if todo and not outcome.interrupted:
            common = {**options.trial_options(), "sweep_dir": sweep_dir}
            groups, unpacked = packs(todo, options.pack)
            for reason in unpacked:
                print(f"sweep {options.name}: {reason}", file=stream or sys.stdout)
            params = [{**_tune_trial(group), **common} for group in groups]
            progress = Progress(len(todo), stream, scored_metric(todo[0].config.task))   # a pack's members each
            run = time.strftime("run-%Y%m%d-%H%M%S")
            record_run(sweep_dir, {"run": run, "mode": "grid", **(plan or {}), "task": task_dump["name"],
                                   "trials": len(trials), "to_run": len(todo),
                                   "keys": [t.key for t in todo], **_cluster_description()})
            tuner = tune.Tuner(
                trainable,
                param_space={"trial": tune.grid_search(params)},
                tune_config=tune.TuneConfig(reuse_actors=True,
                                            max_concurrent_trials=options.max_concurrent,
                                            trial_name_creator=_trial_name,
                                            trial_dirname_creator=_trial_name),
                run_config=_run_config(run, experiments, options, progress))
            _fit(tuner, progress, outcome)
            # Trials Tune never started do not show in its results: count what is missing instead.
            missing = {t.key for t in todo} - finished_keys(sweep_dir)
            outcome.interrupted = outcome.interrupted or len(missing) > outcome.errored
            if not outcome.interrupted:
                record_finished(sweep_dir, run, len(missing))
    return outcome


def _tidy(sweep_dir: str) -> None:
    """After a run: no file half-written by a write that storage broke off (storage.remove_staged)."""
    for folder in ("checkpoints", "trials"):
        remove_staged(join(sweep_dir, folder))


def run_protocol(trials: list[PlannedTrial], options: SweepOptions, task: TaskSpec, plan: dict[str, Any],
                 stream: TextIO | None = None) -> SweepOutcome:
    """The budgeted protocol (docs/protocol.md) in one sweep: the tuning trials, then — per workload and
    optimizer — the configuration chosen on them (the leaderboard's selection, `report.protocol.chosen`)
    on each of the task's held-out seeds, which no selection sees."""
    _before_start(options)
    sweep_dir = join(normalise(options.storage), options.name)
    with sweep_lock(sweep_dir), storage_words(sweep_dir):   # both phases: one driver at a time
        return _run_protocol(trials, options, task, plan, stream)


def _run_protocol(trials: list[PlannedTrial], options: SweepOptions, task: TaskSpec, plan: dict[str, Any],
                  stream: TextIO | None) -> SweepOutcome:
    import dataclasses

    from ..report.protocol import chosen
    from ..results.store import trial_rows
    from ..spec import report_seeds
    from .grid import plan_report
    task_dump = task.model_dump(mode="json")
    outcome = run_sweep(trials, options, task_dump, stream, plan)
    if outcome.interrupted:
        return outcome
    rows = trial_rows(outcome.sweep_dir, [t.key for t in trials])
    keys = set(chosen(rows).values()) if not rows.empty else set()
    held = plan_report(task, trials, keys)
    seeds = report_seeds(task)
    print(f"sweep {options.name}: held-out seeds: {len(keys)} chosen configurations × {len(seeds)} seeds "
          f"({seeds[0]}–{seeds[-1]}) = {len(held)} trials", file=stream or sys.stdout)
    second = run_sweep(held, dataclasses.replace(options, resume=False), task_dump, stream,
                       {"mode": "report", "report_seeds": seeds, "chosen": sorted(keys)})
    outcome.planned += second.planned
    outcome.already_done += second.already_done
    outcome.ran += second.ran
    outcome.errored += second.errored
    outcome.interrupted = second.interrupted
    outcome.most_at_once = max(outcome.most_at_once, second.most_at_once)
    outcome.errors.update({line: outcome.errors.get(line, 0) + n for line, n in second.errors.items()})
    for status, n in second.statuses.items():
        outcome.statuses[status] = outcome.statuses.get(status, 0) + n
    return outcome


def packs(trials: list[PlannedTrial], k: int) -> tuple[list[list[PlannedTrial]], list[str]]:
    """The trials grouped into packs of up to `k` that share a `packing.pack_key`, in planned order, and
    why the others run alone (packing.check_pack: one line per optimizer and reason, to say once)."""
    from ..packing import PackError, check_pack, pack_key
    if k <= 1:
        return [[t] for t in trials], []
    groups: dict[tuple, list[PlannedTrial]] = {}
    for t in trials:
        groups.setdefault(pack_key(t.config), []).append(t)
    out, unpacked = [], {}
    for group in groups.values():
        try:
            check_pack([group[0].config])
        except (PackError, ValueError) as exc:
            unpacked.setdefault(str(exc), len(unpacked))
            out += [[t] for t in group]
            continue
        out += [group[i:i + k] for i in range(0, len(group), k)]
    return out, list(unpacked)


def _tune_trial(group: list[PlannedTrial]) -> dict[str, Any]:
    """A Tune trial's parameters: one resolved trial, or a pack of them (named for its members' keys)."""
    if len(group) == 1:
        return {"key": group[0].key, "config": group[0].config.to_dict()}
    from ..identity import digest
    return {"key": f"pack-{digest([t.key for t in group])}",
            "members": [{"key": t.key, "config": t.config.to_dict()} for t in group]}


def _run_config(run: str, experiments: str, options: SweepOptions, progress):
    """Quiet, retrying; results as JSON lines (no TensorBoard).  Checkpoints are the trainable's own
    (trainable.checkpoint_path: one per trial key in the sweep's storage), not Tune's."""
    from ray import tune
    from ray.tune.logger import JsonLoggerCallback
    return tune.RunConfig(name=run, storage_path=experiments, verbose=0,
                          failure_config=tune.FailureConfig(max_failures=options.max_failures),
                          callbacks=[progress, JsonLoggerCallback()])


def _trial_name(trial) -> str:
    return trial.config["trial"].get("key") or trial.trial_id


@contextmanager
def _session(options: SweepOptions) -> Iterator[Any]:
    """The Ray session of a sweep, its storage checked, and the trainable with the trial's resources."""
    storage = normalise(options.storage)
    with ray_session(options.address, join(storage, options.name)):
        from ray import tune

        from .trainable import sweep_trial
        _check_storage(storage, options.address)
        _check_resources(options)
        yield tune.with_resources(sweep_trial, {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial})


def run_search(task: TaskSpec, optimizers: list[str], samples: int, grid: dict[str, list[Any]],
               fixed: dict[str, Any], options: SweepOptions, stream: TextIO | None = None) -> SweepOutcome:
    """`samples` trials per optimizer, sampled by Optuna and pruned by ASHA (see search.py)."""
    from ..config import resolve_trial
    from ..optim.registry import lookup
    sweep_dir = join(normalise(options.storage), options.name)
    outcome = SweepOutcome(sweep_dir, samples * len(optimizers), 0)
    _before_start(options)
    with sweep_lock(sweep_dir), storage_words(sweep_dir), _session(options) as trainable:
        from ray import tune

        from .progress import Progress
        from .search import describe, search_config, search_space
        from .trainable import drop_finished_checkpoints, scored_metric
        spaces = {name: search_space(task, name, grid, fixed) for name in optimizers}
        for seed, (name, space) in enumerate(spaces.items()):
            resolved = resolve_trial(task, {"optimizer": name, **fixed}).task
            tune_config, described = search_config(resolved, samples, seed)
            tune_config.max_concurrent_trials = options.max_concurrent
            tune_config.trial_name_creator = tune_config.trial_dirname_creator = _trial_name
            trial = {"overrides": {"optimizer": name, **fixed}, "task": task.model_dump(mode="json"),
                     "plugin": lookup(name).plugin, "sweep_dir": sweep_dir, "sampled": space,
                     **options.trial_options()}
            run = time.strftime("run-%Y%m%d-%H%M%S") + f"-{name}"
            record_run(sweep_dir, {"run": run, "mode": "search", "optimizer": name, "task": task.name,
                                   "space": describe(space), "fixed": fixed,
                                   **described, **_cluster_description()})
            progress = Progress(samples, stream, scored_metric(resolved))
            tuner = tune.Tuner(trainable, param_space={"trial": trial}, tune_config=tune_config,
                               run_config=_run_config(run, join(sweep_dir, "tune"), options, progress))
            errored = outcome.errored
            _fit(tuner, progress, outcome, early_stopping=True)
            drop_finished_checkpoints(sweep_dir)
            _tidy(sweep_dir)
            record_finished(sweep_dir, run, outcome.errored - errored)
    return outcome


def _manifest(sweep_dir: str) -> dict[str, Any]:
    """<sweep>/sweep.json: the sweep's id and every run of it (what ran, how, where)."""
    try:
        return read_json(join(sweep_dir, "sweep.json"))
    except FileNotFoundError:
        name = sweep_dir.rstrip("/").rsplit("/", 1)[-1]   # the id is unique across machines
        return {"schema": 1, "name": name, "sweep_id": f"{name}-{uuid.uuid4().hex[:10]}", "runs": []}


def record_run(sweep_dir: str, entry: dict[str, Any]) -> None:
    manifest = _manifest(sweep_dir)
    manifest["runs"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **entry})
    write_json(join(sweep_dir, "sweep.json"), manifest)


def record_finished(sweep_dir: str, run: str, errored: int = 0) -> None:
    """The run ended: "finished" when every trial it planned finished, else "ended" and how many errored
    (the sweep run again runs those)."""
    manifest = _manifest(sweep_dir)
    for entry in manifest["runs"]:
        if entry.get("run") == run:
            entry["finished" if not errored else "ended"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            if errored:
                entry["errored"] = errored
    write_json(join(sweep_dir, "sweep.json"), manifest)


def _run_complete(sweep_dir: str, run: str, errored: int) -> bool:
    """Whether every trial the run planned has finished, but for those that errored."""
    keys = next((set(r.get("keys", [])) for r in _manifest(sweep_dir)["runs"] if r.get("run") == run), set())
    return len(keys - finished_keys(sweep_dir)) <= errored


def _cluster_description() -> dict[str, Any]:
    import ray
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return {"nodes": len(nodes), "cluster_resources": ray.cluster_resources(),
            "ray_version": ray.__version__}


def _fit(tuner, progress, outcome: SweepOutcome,
         early_stopping: bool = False, skip: set[str] = frozenset()) -> None:
    """Run the tuner; count the trials that finished (and how), errored, or were cut short — but for those
    in `skip`, finished before it started.  Tune's own
    log of an errored trial (its traceback, at every retry) is kept to the trial's error.txt: the sweep
    says each distinct error once, in one line, at the end (SweepOutcome.error_lines)."""
    try:
        with quiet_tune():
            results = tuner.fit()
    finally:
        if progress is not None:
            progress.close()
            outcome.most_at_once = max(outcome.most_at_once, progress.most_running)
    outcome.errored += len(results.errors)
    for result in results:
        metrics = result.metrics or {}
        trial = (result.config or {}).get("trial", {})
        keys = [m["key"] for m in trial.get("members", ())] or [trial.get("key")]
        if skip and all(key in skip for key in keys):
            continue   # finished before this run (a restored experiment brings its finished trials back)
        if result.error is not None:
            line = f"{_error_line(result.error)} (details: {join(result.path, 'error.txt')})"
            line = re.sub(r"\b[0-9a-f]{16}\b", "<trial key>", line)   # one line for what many trials met
            outcome.errors[line] = outcome.errors.get(line, 0) + 1
        elif metrics.get("finished"):
            members = metrics.get("member_statuses") or {metrics.get("status", "unknown"): 1}
            for status, n in members.items():   # a pack counts as the trials it ran
                outcome.ran += n
                outcome.statuses[status] = outcome.statuses.get(status, 0) + n
        elif early_stopping:  # ASHA stopped it: a result, saved as "stopped"
            outcome.ran += 1
            outcome.statuses["stopped"] = outcome.statuses.get("stopped", 0) + 1
        else:
            outcome.interrupted = True


@contextmanager
def quiet_tune() -> Iterator[None]:
    """Tune's logs of what the sweep says itself: an errored trial's traceback at every retry (kept in its
    error.txt; the sweep says each distinct error once), experiment state it could not save or sync (the
    sweep says the storage's state; Tune syncs again later), and, on --resume, trials with no results yet
    (nothing is wrong)."""
    import logging
    loggers = [logging.getLogger(name) for name in ("ray.tune.execution.tune_controller", "ray.tune.tune",
                                                    "ray.tune.execution.experiment_state",
                                                    "ray.tune.analysis.experiment_analysis",
                                                    "ray.train._internal.storage", "ray.train._internal.syncer")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@contextmanager
def storage_words(sweep_dir: str) -> Iterator[None]:
    """Whatever fails while the sweep's storage no longer takes a file (full, read-only) — Tune's own
    files, the sweep's record, a trial's — is said as that, in one line (an OSError for cli.main), with
    what to do; anything else goes on as it was raised."""
    try:
        yield
    except Exception:
        from ..storage import os_reason, write_bytes
        probe = join(sweep_dir, ".writable")
        try:
            write_bytes(probe, bytes(65536))
        except OSError as exc:
            endpoint = os.environ.get("AWS_ENDPOINT_URL") if sweep_dir.startswith("s3://") else None
            where = f"sweep storage {sweep_dir}" + (f" (endpoint {endpoint})" if endpoint else "")
            raise OSError(f"{where}: {os_reason(exc).rstrip('.')}; the trials finished so far are kept — run the "
                          "same command again once it takes files") from None
        fs, path = filesystem(probe)
        fs.delete_file(path)
        raise


def _error_line(error: BaseException | str) -> str:
    """What went wrong in an errored trial, in one line: the exception the trial raised (Ray wraps it), or
    what Ray says of a worker it lost (Tune gives that as its error.txt's text); a worker Ray's memory
    monitor killed is said with what to change."""
    cause = getattr(error, "cause", None)
    cause = cause if isinstance(cause, BaseException) else error
    name = type(cause).__name__ if isinstance(cause, BaseException) else "error"
    text = next((line.strip() for line in str(cause).splitlines()
                 if line.strip() and not line.startswith("Failure # ")), "")
    if "running low on memory" in text:   # ray.exceptions.OutOfMemoryError ("N worker(s) were killed …")
        name, text = "OutOfMemoryError", ("Ray's memory monitor killed the trial's worker (the node ran low on "
                                          "memory); give each trial more room: a smaller --max-concurrent or a "
                                          "larger --cpus-per-trial")
    return f"{name}: {text}"[:400]


def _check_storage(storage: str, address: str | None) -> None:
    """On a cluster, storage must be one that every node reaches.  A local path is put to the test: a file
    written here must be visible on every node alive (a task on each); and where the cluster spans hosts,
    the path must also be on a network filesystem, for the nodes its autoscaler adds later.  A URI
    (s3://, gs://) is every node's by its credentials."""
    import ray
    if is_uri(storage) or not address:
        return
    _check_every_node_sees(storage)
    driver_ip = ray.util.get_node_ip_address()
    hosts = {node["NodeManagerAddress"] for node in ray.nodes() if node.get("Alive")}
    if hosts <= {driver_ip}:
        return  # every node is on this machine, and sees the folder
    kind = mount_type(storage)
    if kind is not None and (kind in NETWORK_FILESYSTEMS or kind.startswith("fuse.")):
        return
    raise ConfigError(
        f"--storage {storage}: a local path ({kind or 'unknown'} filesystem) on a cluster of "
        f"{len(hosts)} hosts; the workers could not write their results there. Use a path on "
        "shared storage (NFS, Lustre, …) or a URI such as s3://bucket/sweeps")


def _sees(path: str) -> bool:
    return os.path.isfile(path)


def _check_every_node_sees(storage: str) -> None:
    """A probe file in `storage`, looked for by a task pinned to each node alive: a node that does not see
    it (its own disk, another mount namespace, a container without the volume) would lose its trials."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
    os.makedirs(storage, exist_ok=True)
    probe = os.path.join(storage, f".regclip-probe-{uuid.uuid4().hex}")
    with open(probe, "w") as handle:
        handle.write("written by the sweep's driver; every node must see it\n")
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        look = ray.remote(num_cpus=0, max_retries=0)(_sees)
        refs = [look.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote(probe)
                for n in nodes]
        try:
            seen = ray.get(refs, timeout=60)
        except ray.exceptions.GetTimeoutError:
            raise ConfigError(f"--storage {storage}: a node of the cluster did not answer within 60 s whether it "
                              "sees this folder") from None
    finally:
        os.unlink(probe)
    blind = [n for n, ok in zip(nodes, seen) if not ok]
    if blind:
        names = ", ".join(f"{n['NodeID'][:12]} ({n['NodeManagerAddress']})" for n in blind)
        raise ConfigError(f"--storage {storage}: not the same folder on every node — {len(blind)} of {len(nodes)} "
                          f"nodes do not see a file written there here ({names}); their trials' results would be "
                          "lost. Use storage every node mounts (NFS, …) or a URI such as s3://bucket/sweeps")


def _check_resources(options: SweepOptions, nodes: list[dict[str, float]] | None = None) -> None:
    """A trial's CPUs and GPUs are one bundle, placed on one node: a request that no node has would wait
    forever.  A local Ray is this machine (checked before it starts); a cluster is its nodes alive when the
    sweep starts and the node types its autoscaler may add (cluster.yaml's available_node_types): a request
    that fits one of them waits for the autoscaler, as Ray would."""
    if nodes is None:
        import ray
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")] + _node_types()
    where = (f"the cluster at {options.address} (alive, or of a type its autoscaler may add)" if options.address
             else "this machine (a local Ray)")
    wanted = {"--cpus-per-trial": ("CPU", options.cpus_per_trial), "--gpus-per-trial": ("GPU", options.gpus_per_trial)}
    for flag, (kind, amount) in wanted.items():
        most = max((n.get(kind, 0.0) for n in nodes), default=0.0)
        if most < amount:
            raise ConfigError(f"{flag} {amount:g}: no node of {where} has {amount:g} {kind}s (the most on one "
                              f"node: {most:g}); its trials would never start")
    if not any(all(n.get(kind, 0.0) >= amount for kind, amount in wanted.values()) for n in nodes):
        raise ConfigError(f"--cpus-per-trial {options.cpus_per_trial:g} with --gpus-per-trial "
                          f"{options.gpus_per_trial:g}: no node of {where} has both; its trials would never start")


def _node_types() -> list[dict[str, float]]:
    """The node types a cluster's autoscaler may start (each as one node's resources); none where it has no
    autoscaler.  Ray's own reading of its cluster config (a private API: should it fail, the nodes alive
    decide)."""
    try:
        from ray._private.state import state
        config = state.get_cluster_config()
    except Exception:  # noqa: BLE001 — Ray's private API changed: decide on the nodes alive
        return []
    if config is None:
        return []
    return [dict(group.resources) for group in config.node_group_configs if group.max_count != 0]


def _before_start(options: SweepOptions) -> None:
    """What can be refused before anything starts or is written: a cluster's address that does not
    answer, a local Ray's trials that would not fit this machine, a --resume of nothing."""
    if options.address:
        check_reachable(options.address)
    elif not ("ray" in sys.modules and sys.modules["ray"].is_initialized()):
        _check_resources(options, [_local_node()])
    storage = normalise(options.storage)
    if options.resume and _latest_experiment(join(storage, options.name, "tune")) is None:
        raise ConfigError(f"--resume: no earlier run of sweep {options.name!r} under {storage}")


def _set_aside_damaged(sweep_dir: str, name: str, stream: TextIO | None) -> None:
    """A trial file that cannot be read (truncated, empty, a folder by its name) is moved aside, never
    deleted, and its trial runs again."""
    from ..results.store import damaged_trial_files
    damaged = damaged_trial_files(sweep_dir)
    if not damaged:
        return
    aside = join(sweep_dir, "damaged", time.strftime("%Y%m%d-%H%M%S"))
    fs, aside_path = filesystem(aside)
    fs.create_dir(aside_path, recursive=True)
    for path in damaged:
        fs.move(path, f"{aside_path}/{path.rsplit('/', 1)[-1]}")
    print(f"sweep {name}: {len(damaged)} damaged trial file(s) moved to {aside}; their trials run again",
          file=stream or sys.stdout)


def _local_node() -> dict[str, float]:
    """What a local Ray started by `ray_session` has: every CPU, and the GPUs Ray's own detection finds
    (what `ray.init` will register; asking torch would import it into the driver, which never needs it)."""
    from ray._private.accelerators import get_accelerator_manager_for_resource
    gpus = get_accelerator_manager_for_resource("GPU").get_current_node_num_accelerators()
    return {"CPU": float(os.cpu_count() or 1), "GPU": float(gpus)}


def _latest_experiment(experiments: str) -> str | None:
    fs, path = filesystem(experiments)
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    runs = sorted(info.path for info in infos if info.type == pafs.FileType.Directory)
    if not runs:
        return None
    latest = runs[-1]
    return latest if not is_uri(experiments) else join(experiments, latest.rsplit("/", 1)[-1])
