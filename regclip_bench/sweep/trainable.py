"""The Ray Tune side of a trial: `run_trial`, unchanged, with a reporter that talks to Tune."""

from __future__ import annotations

import errno
import io
import math
import socket
import sys
import time
from collections import Counter
from typing import Any, Callable

import ray
from ray import tune

from .._lazy import Lazy
from ..config import TrialConfig, resolve_trial
from ..optim.registry import lookup
from ..progress import Reporter
from ..spec import TaskSpec
from ..summary import columns as summary_columns
from ..trial_io import read_trial, write_trial
from ..provenance import provenance
from ..identity import trial_key
from ..storage import exists, filesystem, join, os_reason, write_bytes

# What trains is imported where a trial runs (the worker), never in the sweep's driver, which has no
# use for torch (benchmarks/startup.py).
torch = Lazy("torch")
run_pack = Lazy("regclip_bench.packed:run_pack")
run_trial, stopped_record = Lazy("regclip_bench.trial:run_trial"), Lazy("regclip_bench.trial:stopped_record")

REPORTED = ("step", "loss", "loss_avg", "best_loss", "grad_norm", "clip_factor", "step_size",
            "pl_ratio", "dist_from_init", "lr", "examples_per_s")


def _scalars(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in REPORTED if k in row and row[k] is not None}


def checkpoint_path(sweep_dir: str, key: str) -> str:
    """Where a Tune trial (a trial, or a pack by its own key) keeps its one checkpoint: in the sweep's
    storage, named by the trial's key, so that whatever runs that trial next — Tune's retry of a crashed
    worker, `--resume`, or the same sweep run again after its driver was killed — goes on from it."""
    return join(sweep_dir, "checkpoints", f"{key}.pt")


def load_checkpoint(path: str, waited: Callable[[], None] | None = None) -> dict[str, Any] | None:
    """The state saved at `path`, or None: none saved, or one that cannot be read (said on stderr; the
    trial then starts again from step 0, which gives the same numbers, later).  Storage that does not
    answer is waited for (`patiently`)."""
    fs, where = filesystem(path)

    def read() -> bytes:
        with fs.open_input_stream(where) as stream:
            return stream.read()
    try:
        data = patiently(read, "read the checkpoint", path, waited)
    except FileNotFoundError:
        return None
    try:
        return torch.load(io.BytesIO(data), weights_only=False)
    except Exception as exc:  # noqa: BLE001 — a damaged checkpoint only costs the steps it saved
        print(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); the trial starts from step 0",
              file=sys.stderr)
        return None


def drop_checkpoint(path: str, waited: Callable[[], None] | None = None) -> None:
    fs, where = filesystem(path)
    try:
        patiently(lambda: fs.delete_file(where), "remove the checkpoint", path, waited)
    except FileNotFoundError:
        pass


def drop_finished_checkpoints(sweep_dir: str) -> None:
    """Each checkpoint whose trial's file is written (a search trial ASHA stopped; a worker lost between
    the two writes): nothing will read it."""
    import pyarrow.fs as pafs
    from ..storage import finished_keys
    fs, where = filesystem(join(sweep_dir, "checkpoints"))
    done = finished_keys(sweep_dir)
    for info in fs.get_file_info(pafs.FileSelector(where, allow_not_found=True)):
        if info.type == pafs.FileType.File and info.base_name.removesuffix(".pt") in done:
            fs.delete_file(info.path)


class TuneReporter(Reporter):
    """Reports to Tune at evaluations, at most once per `checkpoint_every_s` seconds, with a checkpoint
    saved first (`checkpoint_path`): the latest logged metrics and the test metrics.  The full step rows go
    to the trial's Parquet file instead, so Tune's per-report cost and the checkpoint's write are not paid
    for every log or every short evaluation.  A checkpoint that cannot be written ends the trial with one
    line naming the file (Tune retries it up to --max-failures times; the progress line counts retries)."""

    def __init__(self, checkpoint_every_s: float = 10.0, path: str | None = None,
                 partial: Callable[[], None] | None = None) -> None:
        self.last: dict[str, Any] = {}
        self.every = checkpoint_every_s
        self.path = path
        self.last_checkpoint = time.monotonic()
        self.partial = partial  # search mode: report every evaluation, after saving the rows so far
        self.waited: Callable[[], None] | None = None   # reports a wait for storage (grid and packs)

    def log(self, row: dict[str, Any]) -> None:
        self.last.update(_scalars(row))

    def eval(self, row: dict[str, Any]) -> None:
        self.last.update({k: v for k, v in row.items() if k.startswith("test_")})

    def checkpoint(self, step: int, state: Callable[[], dict[str, Any]]) -> None:
        if time.monotonic() - self.last_checkpoint < self.every:
            if self.partial is not None:  # ASHA needs every evaluation; it may stop us here
                self.partial(state)
                tune.report(dict(self.last))
            return
        if self.partial is not None:
            self.partial(state)
        self.last_checkpoint = time.monotonic()
        if self.path is not None:
            buffer = io.BytesIO()
            torch.save(state(), buffer)
            patiently(lambda: write_bytes(self.path, buffer.getvalue()), "save the checkpoint", self.path,
                      self.waited)
        tune.report(dict(self.last, checkpoint_step=step))


class StorageError(RuntimeError):
    """The sweep's storage would not take or give a file: full, read-only, or not answering for longer
    than STORAGE_PATIENCE_S."""


STORAGE_PATIENCE_S = 600.0   # how long a trial waits, retrying, for storage that does not answer
# What a later try may not meet: the storage did not answer, or asked to be called less often (pyarrow's
# S3 errors name the AWS error; local and NFS ones carry an errno).
TRANSIENT = ("NETWORK_CONNECTION", "curlCode", "Could not connect", "SLOW_DOWN", "SERVICE_UNAVAILABLE",
             "INTERNAL_FAILURE", "REQUEST_TIMEOUT", "THROTTLING", "Connection refused", "timed out")
TRANSIENT_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                    errno.ENETUNREACH, errno.ESTALE}


def patiently(op: Callable[[], Any], what: str, path: str, waited: Callable[[], None] | None = None) -> Any:
    """`op()`, retried with backoff (1 s, doubling to 30 s) while the storage does not answer, for up to
    STORAGE_PATIENCE_S; `waited()` is called before each wait (the progress line counts them).  Any other
    OSError, or one that outlasts the patience, becomes one line naming the file: the trial errs, and Tune
    retries it.  FileNotFoundError is an answer, and is raised as it is."""
    start, delay = time.monotonic(), 1.0
    while True:
        try:
            return op()
        except FileNotFoundError:
            raise
        except OSError as exc:
            transient = exc.errno in TRANSIENT_ERRNOS or any(mark in str(exc) for mark in TRANSIENT)
            if not transient or time.monotonic() - start + delay > STORAGE_PATIENCE_S:
                waiting = f" (retried for {time.monotonic() - start:.0f} s)" if transient else ""
                raise StorageError(f"cannot {what} {path}: {os_reason(exc)}{waiting}") from None
        if waited is not None:
            waited()
        time.sleep(delay)
        delay = min(2 * delay, 30.0)


def sweep_trial(config: dict[str, Any]) -> None:
    """Tune function trainable.  `config["trial"]` holds the task, the trial's overrides (or a pack's
    members') and where to write; in search mode, its "sampled" holds the values Tune drew.  A grid
    trial whose file is written already (its sweep was interrupted after the write, before Tune heard
    of it) is not run again: its file is reported as it is, never rewritten."""
    params = config["trial"]
    # A wait for storage is said to Tune (the progress line counts it); not in search mode, whose
    # scheduler reads every result for its metric.
    waited = None if params.get("sampled") is not None else (lambda: tune.report({"storage_wait": True}))

    def path(trial) -> str:
        return join(params["sweep_dir"], "trials", f"{trial_key(trial)}.parquet")

    def written(trial) -> bool:   # (search mode saves partial records on purpose: never "written")
        return not params.get("sampled") and patiently(lambda: exists(path(trial)), "look for the trial file",
                                                       path(trial), waited)

    def read(trial) -> dict[str, Any]:
        return patiently(lambda: read_trial(path(trial))[1], "read the trial file", path(trial), waited)

    def save(trial, result: dict[str, Any], **extra: Any) -> None:
        result.update(key=trial_key(trial), sweep=params["sweep"], hostname=socket.gethostname(),
                      node_id=ray.get_runtime_context().get_node_id(), **provenance(), **extra)
        patiently(lambda: write_trial(path(trial), result), "save the trial file", path(trial), waited)

    def reporter(kept: str) -> TuneReporter:
        made = TuneReporter(params["checkpoint_every_s"], kept)
        made.waited = waited
        return made

    if "members" in params:   # a pack: each member saved as its own trial, as if it had run alone
        trials = [TrialConfig.from_dict(m["config"]) for m in params["members"]]
        kept = checkpoint_path(params["sweep_dir"], params["key"])
        done = [written(t) for t in trials]
        if all(done):
            results = [read(t) for t in trials]
        else:
            results = run_pack(trials, reporter(kept), resume=load_checkpoint(kept, waited),
                               capture=params.get("cuda_graph", False))
            for trial, result, saved in zip(trials, results, done):
                if not saved:
                    save(trial, result, pack=params["key"])
        drop_checkpoint(kept, waited)
        statuses = Counter(r["status"] for r in results)
        losses = [r["final_loss"] for r in results if math.isfinite(r["final_loss"])]
        metric, direction = scored_metric(trials[0].task)
        scored = [r[metric] for r in results if isinstance(r.get(metric), float) and math.isfinite(r[metric])]
        tune.report({"finished": True, "members": len(results), "member_statuses": dict(statuses),
                     **({"best_final_loss": min(losses)} if losses else {}),
                     **({f"best_{metric}": (min if direction == "min" else max)(scored)} if scored else {})})
        return
    if params.get("sampled") is not None:   # search: the values Tune drew, resolved here
        if params.get("plugin"):
            lookup(params["overrides"]["optimizer"], params["plugin"])
        trial = resolve_trial(TaskSpec.model_validate(params["task"]), {**params["overrides"], **params["sampled"]})
    else:   # resolved and checked by the driver (device "auto": the GPU Tune gives the trial)
        trial = TrialConfig.from_dict(params["config"])
    kept = checkpoint_path(params["sweep_dir"], trial_key(trial))
    if written(trial):
        drop_checkpoint(kept, waited)
        tune.report({**_final(read(trial)), "finished": True})
        return
    made = reporter(kept)
    if params.get("sampled"):
        made.partial = lambda state: save(trial, stopped_record(trial, state()))
    result = run_trial(trial, made, resume=load_checkpoint(kept, waited), time_limit_s=params.get("time_limit_s"),
                       capture=params.get("cuda_graph", False))
    save(trial, result)
    drop_checkpoint(kept, waited)
    final = _final(result)
    tune.report({**final, **{k: v for k, v in made.last.items() if k not in final}, "finished": True})


def scored_metric(task) -> tuple[str, str]:
    """The final metric a task's trials are scored by (a record's column) and its direction."""
    from ..summary import recorded_name
    return f"final_{recorded_name(task.target.metric)}", task.target.direction


def _final(result: dict[str, Any]) -> dict[str, Any]:
    """A trial's summary columns that Tune can hold: numbers and strings, finite."""
    return {name: result[name] for name, _ in summary_columns() if isinstance(result.get(name), (int, float, str))
            and not (isinstance(result[name], float) and not math.isfinite(result[name]))}
