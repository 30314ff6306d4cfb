"""What a trial reports when it ends: one dataclass that the results store's columns, Ray Tune's
final report and the command line's printout all derive from."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, make_dataclass
from enum import Enum
from typing import Any

from .kinds import METRICS
from .optim.base import REGIME_NAMES

NOT_REACHED = math.inf


def recorded_name(metric: str) -> str:
    """A target metric's name in a trial's records (final_…, initial_…, Tune's reports): train_loss's is loss."""
    return "loss" if metric == "train_loss" else metric


class Status(str, Enum):
    COMPLETED = "completed"
    NO_PROGRESS = "no_progress"   # finished, but its training loss (a fixed sample) ended no lower than at w₀
    DIVERGED = "diverged"         # a NaN or infinite loss or gradient norm: a result, not a crash
    FAILED = "failed"             # out of memory, or a plug-in optimizer that raised: a result (else a bug)
    TIMED_OUT = "timed_out"       # ran past the trial's time limit (sweep --trial-time-limit)
    STOPPED = "stopped"           # stopped early by a search's scheduler


@dataclass
class TrialSummary:
    """In the store's column order; `initial`/`final` hold the kind's test metrics."""
    status: Status
    error: str | None = None
    final_loss: float = math.nan
    best_loss: float = math.nan
    loss_log_slope: float = math.nan
    loss_rate: float = math.nan
    min_pl_ratio: float = math.nan
    max_dist_from_init: float = math.nan
    frac_unclipped: float = math.nan
    initial_loss: float = math.nan
    loss_rate_r2: float = math.nan
    loss_rate_second_half: float = math.nan
    loss_rate_second_half_r2: float = math.nan
    final_pl_ratio: float = math.nan
    w0_norm: float = math.nan
    max_rel_dist_from_init: float = math.nan
    final_rel_dist_from_init: float = math.nan
    initial: dict[str, float] = field(default_factory=dict)
    frac_clipped: float = math.nan
    frac_floor: float = math.nan
    final: dict[str, float] = field(default_factory=dict)
    steps_done: int = 0
    total_steps: int = 0
    resumed_from_step: int = 0
    steps_to_target: float = NOT_REACHED
    seconds_to_target: float = NOT_REACHED
    param_count: int = 0
    wall_time_s: float = 0.0
    train_time_s: float = 0.0
    device: str = "cpu"
    device_name: str = "cpu"
    final_train_loss: float = math.nan   # on the same fixed training sample as initial_loss, at the end
    pack_train_time_s: float = math.nan  # a packed member's: its pack's training seconds (train_time_s is its share)

    def record(self) -> dict[str, Any]:
        """Flat: the test metrics as initial_<metric> and final_<metric>, the status as text."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("initial", "final"):
                out.update({f"{f.name}_{m}": value.get(m) for m in METRICS})
            else:
                out[f.name] = value.value if isinstance(value, Status) else value
        return out


PROVENANCE = ("hostname", "node_id", "cpu_model", "gpu_model", "regclip_bench_version", "git_commit",
              "torch_version", "ray_version", "python_version",
              "pack",                # added where the trial ran; pack: the packed Tune trial it ran in, if any
              "optimizer_origin",    # built-in, or the plug-in's reference or submission
              "optimizer_sha256",    # a plug-in's source, hashed
              "optimizer_packages",  # JSON: the versions of the packages a plug-in comes from
              "step_graph",          # "cuda": its steps were replayed from CUDA graphs (loop.finish), else null
              "result_source")       # "suite": a trial this suite ran; "submitted": a results file (leaderboard --add)


def columns() -> list[tuple[str, type]]:
    """(name, Python type) of every summary column, then the provenance columns."""
    kinds = {"status": str, "error": str, "device": str, "device_name": str}
    out = []
    for f in fields(TrialSummary):
        if f.name in ("initial", "final"):
            out += [(f"{f.name}_{m}", float) for m in METRICS]
        else:
            out.append((f.name, kinds.get(f.name) or (int if f.default.__class__ is int else float)))
    return out + [(name, str) for name in PROVENANCE]


PRINTED = ("status", "steps_done", "final_loss", "best_loss", "loss_rate", "loss_log_slope", "steps_to_target",
           "seconds_to_target", "min_pl_ratio", "max_dist_from_init", "frac_unclipped", "frac_clipped",
           "frac_floor", *(f"final_{m}" for m in METRICS), "param_count", "wall_time_s", "device")


# What a loop measures beside its rows and passes to the summary as it is (TrialSummary's fields, defaults
# and all: declared once, there).
PASSED = ("steps_done", "total_steps", "resumed_from_step", "steps_to_target", "seconds_to_target",
          "param_count", "wall_time_s", "train_time_s", "pack_train_time_s", "device", "device_name")

Ending = make_dataclass(
    "Ending",
    [("status", Status), ("error", "str | None", field(default=None)), ("w0_norm", float, field(default=math.nan)),
     # the training loss on data.probe() at w₀ and at the end
     ("probe", "tuple[float, float]", field(default=(math.nan, math.nan)))]
    + [(f.name, f.type, field(default=f.default)) for f in fields(TrialSummary) if f.name in PASSED],
    frozen=True)
Ending.__module__ = __name__
Ending.__doc__ = ("How a trial ended, and what its loop measured beside its rows (`PASSED`, as TrialSummary "
                  "declares them): what `summarise` takes.")


def summarise(steps: list[dict], evals: list[dict], end: Ending) -> TrialSummary:
    """The summary of a trial from its logged rows and its `end`, whose probe is the training loss on
    one fixed training sample at w₀ and at the end (`data.probe()`: the whole set for a full-batch
    task); a finished trial that did not lower it made no progress."""
    initial_loss, final_train_loss = end.probe
    status = end.status
    if status == Status.COMPLETED and math.isfinite(final_train_loss) and final_train_loss >= initial_loss:
        status = Status.NO_PROGRESS
    last = steps[-1] if steps else {}
    return TrialSummary(
        status=status, error=end.error, initial_loss=initial_loss, final_train_loss=final_train_loss,
        final_loss=last.get("loss", math.nan), best_loss=last.get("best_loss", math.nan),
        final_pl_ratio=last.get("pl_ratio", math.nan), final_rel_dist_from_init=last.get("rel_dist_from_init", math.nan),
        w0_norm=end.w0_norm, **_loss_rates(steps), **_extremes(steps, end.w0_norm), **_regime_shares(steps),
        **_test_metrics(evals), **{name: getattr(end, name) for name in PASSED})


def _loss_rates(steps: list[dict]) -> dict[str, float]:
    """The geometric rate of the logged loss (exp of log L's slope per step) and its R², over all the
    rows and over the second half."""
    finite = [(r["step"], math.log(r["loss"])) for r in steps if math.isfinite(r["loss"]) and r["loss"] > 0]
    slope, r2 = fit_line(finite)
    slope_late, r2_late = fit_line([(x, y) for x, y in finite if x >= steps[-1]["step"] / 2])
    rate = lambda s: math.exp(s) if math.isfinite(s) else math.nan   # noqa: E731
    return {"loss_log_slope": slope, "loss_rate": rate(slope), "loss_rate_r2": r2,
            "loss_rate_second_half": rate(slope_late), "loss_rate_second_half_r2": r2_late}


def _extremes(steps: list[dict], w0_norm: float) -> dict[str, float]:
    """The smallest PL ratio and the largest distance from w₀ (absolute and over ‖w₀‖) of the rows."""
    pl = [r["pl_ratio"] for r in steps if math.isfinite(r["pl_ratio"])]
    dist = [r["dist_from_init"] for r in steps if math.isfinite(r["dist_from_init"])]
    return {"min_pl_ratio": min(pl) if pl else math.nan, "max_dist_from_init": max(dist) if dist else math.nan,
            "max_rel_dist_from_init": max(dist) / w0_norm if dist and w0_norm > 0 else math.nan}


def _regime_shares(steps: list[dict]) -> dict[str, float]:
    """The share of all steps in each regime (the rows' counts tile the steps)."""
    totals = {name: sum(r[f"n_{name}"] for r in steps) for name in REGIME_NAMES}
    counted = sum(totals.values())
    return {f"frac_{name}": count / counted if counted else math.nan for name, count in totals.items()}


def _test_metrics(evals: list[dict]) -> dict[str, dict[str, float]]:
    """The kind's test metrics at w₀ (`initial`) and at the last evaluation after it (`final`)."""
    at = {"initial": evals[0] if evals and evals[0]["step"] == 0 else None,
          "final": evals[-1] if evals and evals[-1]["step"] > 0 else None}
    return {prefix: {k: v for k, v in (row or {}).items() if k not in ("step", "epoch")} for prefix, row in at.items()}


def fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of log L against the step (the geometric rate is exp(slope)) and
    the fit's R²: 1 for an exactly geometric decay, near 0 when a line explains nothing."""
    if len(points) < 2:
        return math.nan, math.nan
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var_x = sum((x - mean_x) ** 2 for x, _ in points)
    var_y = sum((y - mean_y) ** 2 for _, y in points)
    if not var_x:
        return math.nan, math.nan
    cov = sum((x - mean_x) * (y - mean_y) for x, y in points)
    return cov / var_x, (cov * cov / (var_x * var_y) if var_y else 1.0)


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table or the terminal: 4 significant digits, "missed" for +inf, "—" for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "missed" if value > 0 else "-inf"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)
