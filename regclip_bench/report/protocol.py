"""The benchmark protocol, in one place (its rules, with their sources: docs/protocol.md): how a
trial and a configuration are scored, how each optimizer's best configuration on a workload is
chosen, how optimizers with different tuning budgets are ranked (the expected best of k by exact
order statistics), and how sensitive each is to its learning rate.  The report and the
leaderboard both call it; neither has rules of its own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..identity import NOT_HYPERPARAMETERS
from ..spec import is_report_seed, load_task
from ..summary import Status, recorded_name

FAILED = (Status.DIVERGED.value, Status.FAILED.value, Status.TIMED_OUT.value)
MIN_LRS, MIN_DECADES = 3, 1.0


@dataclass(frozen=True)
class Scoring:
    metric: str       # the trials column of the final metric: final_loss, final_test_accuracy, …
    initial: str      # the same metric at w₀: initial_loss, initial_test_accuracy, …
    direction: str    # "min" or "max"
    by: str           # "final_metric" or "time_to_target"
    target: float = math.nan   # the target's value

    @staticmethod
    def of(workload_json: str | None) -> Scoring:
        """From the target a workload records (`identity.workload`); the training loss, minimised,
        where it records none (a submission of a task this version does not ship)."""
        try:
            fields = json.loads(workload_json) if workload_json else {}
            metric, direction = fields["target.metric"], fields["target.direction"]
        except (TypeError, ValueError, KeyError):
            return Scoring("final_loss", "initial_loss", "min", "final_metric")
        name = recorded_name(metric)
        value = fields.get("target.value")
        return Scoring(f"final_{name}", f"initial_{name}", direction, fields.get("target.score", "final_metric"),
                       float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan)

    def meets(self, value: pd.Series) -> pd.Series:
        """Whether each value meets the target (NaN and a missing target: no)."""
        return value <= self.target if self.direction == "min" else value >= self.target

    @property
    def worst(self) -> float:
        return math.inf if self.direction == "min" else -math.inf

    def describe(self) -> str:
        lowest = "lowest" if self.direction == "min" else "highest"
        cap = (f"{self.metric} no worse than at initialisation ("
               f"{'min' if self.direction == 'min' else 'max'}(final, initial); a diverged, failed or timed-out "
               "seed counts as its initial value)")
        if self.by == "time_to_target":
            return (f"among the optimizer's configurations on the workload (all hyperparameters but the "
                    f"seed), the one with the fewest median steps to the target over seeds (seconds where "
                    f"every trial ran on one GPU model; a miss is infinite), ties broken by the {lowest} "
                    f"mean {cap}")
        return (f"among the optimizer's configurations on the workload (all hyperparameters but the seed), "
                f"the one with the {lowest} mean over seeds of {cap}")


SUBMITTED = "submitted"   # result_source of a results file added with `leaderboard --add`


def by_source(trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the trials this suite ran, those from submitted results files): never mixed, so that a
    submitted row can neither replace nor shadow a trial the suite ran."""
    submitted = trials["result_source"].eq(SUBMITTED) if "result_source" in trials else pd.Series(False, trials.index)
    return trials[~submitted], trials[submitted]


def distinct_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per trial key: the same trial aggregated from two sweeps is one seed, not two."""
    return trials.sort_values(["sweep_id", "trial_id"]).drop_duplicates("trial_id").reset_index(drop=True)


def capped_metric(trials: pd.DataFrame, scoring: Scoring) -> pd.Series:
    final = trials[scoring.metric].astype(float)
    initial = (trials[scoring.initial].astype(float) if scoring.initial in trials
               else pd.Series(math.nan, index=trials.index))
    bad = trials["status"].isin(FAILED) | ~np.isfinite(final)
    value = final.where(~bad, initial)
    value = np.fmin(value, initial) if scoring.direction == "min" else np.fmax(value, initial)
    return pd.Series(value, index=trials.index).fillna(scoring.worst)


def time_measure(trials: pd.DataFrame) -> tuple[str, str]:
    """("seconds", the GPU) when every trial ran on one GPU model and all or none of them from CUDA graphs
    (a replayed step is the same arithmetic in fewer seconds), else ("steps", the hardware)."""
    devices = set(trials["device_name"].dropna().astype(str))
    on_gpu = trials["device"].astype(str).str.startswith("cuda").all()
    graphs = set(trials["step_graph"].fillna("none").astype(str)) if "step_graph" in trials else {"none"}
    if on_gpu and len(devices) == 1 and len(graphs) == 1:
        return "seconds_to_target", devices.pop()
    return "steps_to_target", ", ".join(hardware(trials))


def hardware(trials: pd.DataFrame) -> list[str]:
    """The GPU, else the CPU, each trial ran on: each model once, sorted."""
    return sorted({str(g) if pd.notna(g) else str(c) for g, c in zip(trials["gpu_model"], trials["cpu_model"])})


def hyperparameters(config_json: str | None) -> dict[str, Any]:
    """A trial's hyperparameters from its flat configuration ({} where there is none to read)."""
    try:
        flat = json.loads(config_json) if config_json else {}
    except (TypeError, ValueError):
        flat = {}
    return {k: v for k, v in flat.items() if k not in NOT_HYPERPARAMETERS} if isinstance(flat, dict) else {}


def configurations(trials: pd.DataFrame, scoring: Scoring, measure: str) -> pd.DataFrame:
    """One row per configuration of one workload, best first within each optimizer: seeds,
    the mean capped metric, the median time to target, and the selection keys."""
    scored = trials.assign(capped=capped_metric(trials, scoring), time=trials[measure].astype(float),
                           is_diverged=trials["status"] == "diverged",
                           is_no_progress=trials["status"] == "no_progress")
    grouped = scored.groupby(["optimizer", "config_key"], sort=True)
    configs = grouped.agg(seeds=("trial_id", "size"), metric=("capped", "mean"), median=("capped", "median"),
                          time=("time", "median"),
                          diverged=("is_diverged", "sum"), no_progress=("is_no_progress", "sum"),
                          lr=("lr", "first"), config_json=("config_json", "first"),
                          train_seconds=("train_time_s", "sum")).reset_index()
    oriented = configs["metric"] if scoring.direction == "min" else -configs["metric"]
    configs["secondary"] = oriented
    configs["primary"] = configs["time"] if scoring.by == "time_to_target" else oriented
    configs["reached"] = np.isfinite(configs["time"])
    # stable: its median seed meets the target by what is scored — reached it in time (a time-to-target
    # task), or ended at it (a final-metric task: reaching it at some evaluation and leaving it is not stable)
    configs["stable"] = configs["reached"] if scoring.by == "time_to_target" else scoring.meets(configs["median"])
    return configs.sort_values(["optimizer", "primary", "secondary", "config_key"]).reset_index(drop=True)


def weighted_sum(weights, values) -> float:
    """Σ wᵢ·vᵢ correctly rounded (`math.fsum` of the products): the same float on every machine.
    A BLAS dot product sums in the order its kernel for the CPU's vector units picks, so the
    published numbers differed in the last digit from one CPU to another."""
    return math.fsum(w * v for w, v in zip(np.asarray(weights, dtype=float).tolist(),
                                           np.asarray(values, dtype=float).tolist()))


def best_of_k_weights(n: int, k: int, replacement: bool = False) -> np.ndarray:
    """P(the r-th best of n configurations is the best of k drawn from them), r = 1…n: without
    replacement (exact order statistics), or with it (Dodge et al. 2019's estimator)."""
    if replacement:
        return np.array([((n - r + 1) / n) ** k - ((n - r) / n) ** k for r in range(1, n + 1)])
    k = min(k, n)
    total = math.comb(n, k)
    return np.array([math.comb(n - r, k - 1) / total for r in range(1, n + 1)])


def expected_best(values: np.ndarray, k: int, replacement: bool = False) -> float:
    """E[value of the best of k of these configurations], `values` in best-first order.  Infinite
    when a configuration with an infinite value can be the best of k (e.g. a possible miss)."""
    weights = best_of_k_weights(len(values), k, replacement)
    used = weights > 0
    values = np.asarray(values, dtype=float)[used]
    if np.isinf(values).any():
        return float(values[np.isinf(values)][0])
    return weighted_sum(weights[used], values)


def expected_at(configs: pd.DataFrame, k: int, replacement: bool = False) -> dict[str, float]:
    """One optimizer's configurations (best first): the expected best of k, as selection keys
    (`primary`, `secondary`), as the metric, time to target and chance of reaching the target."""
    weights = best_of_k_weights(len(configs), k, replacement)
    return {"k": int(k if replacement else min(k, len(configs))),
            "primary": expected_best(configs["primary"].to_numpy(), k, replacement),
            "secondary": expected_best(configs["secondary"].to_numpy(), k, replacement),
            "metric": expected_best(configs["metric"].to_numpy(), k, replacement),
            "time_to_target": expected_best(configs["time"].to_numpy(), k, replacement),
            "p_reach": weighted_sum(weights, configs["reached"].to_numpy(dtype=float))}


def lr_scan(configs: pd.DataFrame, best: pd.Series) -> pd.DataFrame:
    """The configurations that differ from `best` (same optimizer) in the learning rate only."""
    others = {k: v for k, v in hyperparameters(best["config_json"]).items() if k != "lr"}
    same = configs["config_json"].map(lambda c: {k: v for k, v in hyperparameters(c).items() if k != "lr"}
                                      == others)
    return configs[same & configs["lr"].notna()].sort_values("lr").reset_index(drop=True)


def lr_sensitivity(scan: pd.DataFrame, scoring: Scoring) -> tuple[float | None, float | None]:
    """(LR sensitivity, stable lr decades), or (None, None) with fewer than 3 learning rates or
    less than a decade between them."""
    lrs = scan["lr"].astype(float)
    if lrs.nunique() < MIN_LRS or lrs.max() / lrs.min() < 10 ** MIN_DECADES:
        return None, None
    metric = scan["metric"].astype(float)
    spread = metric.mean() - metric.min() if scoring.direction == "min" else metric.max() - metric.mean()
    stable = lrs[scan["stable"]]
    decades = math.log10(stable.max() / stable.min()) if len(stable) >= 2 else 0.0
    return float(spread), float(decades)


@dataclass
class Entry:
    """One optimizer on one workload, under the protocol."""
    optimizer: str
    configs: pd.DataFrame        # its configurations on the tuning seeds, best first
    best: pd.Series              # the chosen one
    trials: pd.DataFrame         # what is reported: the chosen configuration on the held-out seeds (its
                                 # tuning seeds where it has none)
    budget: dict[str, Any]
    expected: dict[str, float]   # at the workload's equal budget k, on the tuning seeds
    rank: int
    scan: pd.DataFrame
    lr_sensitivity: float | None
    stable_lr_decades: float | None
    seeds: dict[str, list[int]] = field(default_factory=dict)    # {"tune": […], "report": […]}
    reported: dict[str, float] = field(default_factory=dict)     # on the held-out seeds: metric, time, p_reach

    @property
    def held_out(self) -> bool:
        return bool(self.seeds.get("report"))


@dataclass
class Study:
    """Every optimizer on one workload, compared at equal budget."""
    workload_key: str
    workload: str
    scoring: Scoring
    measure: str                 # steps_to_target or seconds_to_target
    hardware: str
    k: int
    entries: list[Entry]         # by rank: on the held-out seeds where every entry has them, else at equal budget
    trials: pd.DataFrame         # the workload's (distinct) trials on the tuning seeds: what selection sees
    headline: bool = False       # one of its task's headline workloads
    protocol: str = "grid"       # "budget": every configuration from the budgeted protocol's sweeps

    @property
    def held_out(self) -> bool:
        return bool(self.entries) and all(e.held_out for e in self.entries)


def split_seeds(trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the trials on tuning seeds, those on the protocol's held-out report seeds)."""
    held = trials["seed"].map(is_report_seed).astype(bool)
    return trials[~held], trials[held]


def best_configurations(configs: pd.DataFrame) -> pd.DataFrame:
    """Each optimizer's chosen configuration: the first of its rows in `configurations`' order."""
    return configs.groupby("optimizer", sort=True).head(1).reset_index(drop=True)


def chosen(trials: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(workload key, optimizer) → the config key chosen on the tuning seeds of `trials` (a sweep's
    rows, before the held-out seeds run): the protocol's selection, as the leaderboard makes it."""
    out = {}
    for key, group in split_seeds(trials)[0].groupby("workload_key", sort=True):
        scoring = Scoring.of(group["workload_json"].iloc[0])
        configs = configurations(group, scoring, time_measure(group)[0])
        out.update({(key, row.optimizer): row.config_key for row in best_configurations(configs).itertuples()})
    return out


def overview(trials: pd.DataFrame) -> pd.DataFrame:
    """`regclip-bench query`'s rows: one per task, workload and optimizer (workloads never pooled) — the
    trials and their statuses, how many reached the target, and the configuration the protocol's rule
    chooses on the tuning seeds (`configurations`, `best_configurations`) with its mean capped metric and
    median time to target over those seeds."""
    rows = []
    for (task, workload_key), group in trials.groupby(["task", "workload_key"], sort=True):
        scoring = Scoring.of(group["workload_json"].iloc[0])
        measure = time_measure(group)[0]
        tuning = split_seeds(group)[0]
        best = best_configurations(configurations(tuning if len(tuning) else group, scoring, measure))
        best = best.set_index("optimizer")
        for optimizer, runs in group.groupby("optimizer", sort=True):
            times = runs[measure].astype(float)
            counts = runs["status"].value_counts()
            chosen_row = best.loc[optimizer] if optimizer in best.index else None
            rows.append({
                "task": task, "workload": runs["workload"].iloc[0], "optimizer": optimizer,
                "trials": len(runs), "configurations": runs["config_key"].nunique(),
                "statuses": ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
                "reached": int(np.isfinite(times).sum()),
                "median_time_reached": float(times[np.isfinite(times)].median()) if np.isfinite(times).any() else None,
                "time_unit": measure.removesuffix("_to_target"), "metric": scoring.metric.removeprefix("final_"),
                "direction": scoring.direction, "scored_by": scoring.by,
                "best_config_key": None if chosen_row is None else chosen_row["config_key"],
                "best_configuration": None if chosen_row is None else describe_configuration(chosen_row["config_json"]),
                "best_metric": None if chosen_row is None else float(chosen_row["metric"]),
                "best_time": None if chosen_row is None else float(chosen_row["time"]),
                "best_seeds": None if chosen_row is None else int(chosen_row["seeds"])})
    return pd.DataFrame(rows)


def _reported(runs: pd.DataFrame, scoring: Scoring, measure: str) -> dict[str, float]:
    """The chosen configuration's score on the seeds that report it."""
    row = configurations(runs, scoring, measure).iloc[0]
    times = runs[measure].astype(float)
    return {"metric": float(row["metric"]), "time_to_target": float(row["time"]),
            "p_reach": float(np.isfinite(times).mean()), "primary": float(row["primary"]),
            "secondary": float(row["secondary"])}


def study(trials: pd.DataFrame, scoring: Scoring, protocol_name: str = "grid") -> Study:
    """Compare the optimizers of one workload's (distinct) trials: each one's configuration chosen on the
    tuning seeds, reported on the held-out seeds where it ran on them."""
    measure, hardware = time_measure(trials)
    tune, held = split_seeds(trials)
    configs = configurations(tune, scoring, measure)
    per_optimizer = {name: group.reset_index(drop=True) for name, group in configs.groupby("optimizer", sort=True)}
    k = min(len(group) for group in per_optimizer.values())
    # the held-out seeds report the workload only where every optimizer's chosen configuration ran on them:
    # otherwise every optimizer is reported on the seeds that chose it, so that like is compared with like
    held_out = all(held["config_key"].eq(group["config_key"].iloc[0]).any() for group in per_optimizer.values())
    entries = []
    for name, group in per_optimizer.items():
        best = group.iloc[0]
        scan = lr_scan(group, best)
        sensitivity, decades = lr_sensitivity(scan, scoring)
        mine = tune[tune["optimizer"] == name]
        selected = mine[mine["config_key"] == best["config_key"]]
        reported = held[held["config_key"] == best["config_key"]] if held_out else held.iloc[0:0]
        runs = reported if len(reported) else selected
        entries.append(Entry(
            name, group, best, runs,
            {"configurations": len(group), "trials": len(mine) + len(reported),
             "train_seconds": float(mine["train_time_s"].astype(float).sum()
                                    + reported["train_time_s"].astype(float).sum())},
            expected_at(group, k), 0, scan, sensitivity, decades,
            {"tune": sorted(int(s) for s in selected["seed"]), "report": sorted(int(s) for s in reported["seed"])},
            _reported(runs, scoring, measure)))
    # on the held-out seeds where every optimizer has them (each chose once, on other seeds: no estimator
    # needed); else by the expected score at equal budget.  Where a time to target is infinite on both
    # sides, the likelier to reach the target first; then the metric.  Ties share a rank.
    by_time = scoring.by == "time_to_target"
    scores = {e.optimizer: e.reported if held_out else e.expected for e in entries}
    keys = {o: (v["primary"], -v["p_reach"] if by_time else 0.0, v["secondary"]) for o, v in scores.items()}
    for entry in entries:
        entry.rank = 1 + sum(other < keys[entry.optimizer] for other in keys.values())
    entries.sort(key=lambda e: (e.rank, e.optimizer))
    first = trials.iloc[0]
    return Study(first["workload_key"], first["workload"], scoring, measure, hardware, k, entries, tune,
                 protocol=protocol_name)


BUDGET_MODES = ("budget", "report")   # sweep modes of the budgeted protocol (sweep --budget, submit)


def sweep_modes(sweeps: pd.DataFrame) -> dict[str, str]:
    """sweep id → its modes, from the store's sweeps table."""
    return {} if sweeps.empty else dict(zip(sweeps["sweep_id"].astype(str), sweeps["modes"].astype(str)))


def protocol_trials(trials: pd.DataFrame, modes: dict[str, str]) -> dict[str, tuple[str, pd.DataFrame]]:
    """workload key → (its protocol, its trials): a workload where every optimizer has trials from the
    budgeted protocol's sweeps (`modes`: sweep id → the sweep's modes) is compared on those alone — the same
    N configurations per optimizer — and its grid trials stay out of the ranking; any other workload on all
    its trials (no optimizer is dropped from a workload because others were tuned otherwise)."""
    budgeted = trials["sweep_id"].map(lambda s: any(m in BUDGET_MODES for m in str(modes.get(s, "")).split(",")))
    out = {}
    for key, group in trials.groupby("workload_key", sort=True):
        mine = budgeted.loc[group.index]
        every = set(group.loc[mine, "optimizer"]) == set(group["optimizer"])
        out[key] = ("budget", group[mine]) if mine.any() and every else ("grid", group)
    return out


def studies(trials: pd.DataFrame, modes: dict[str, str] | None = None) -> list[Study]:
    """One study per workload in `trials`, each scored by its own target, on the budgeted protocol's
    trials where the workload has any (`protocol_trials`)."""
    found = []
    for _, (name, group) in protocol_trials(trials, modes or {}).items():
        group = distinct_trials(group)
        found.append(study(group, Scoring.of(group["workload_json"].iloc[0]), name))
    return found


def expected_curve(configs: pd.DataFrame) -> pd.DataFrame:
    """The expected best of k = 1 … n configurations drawn with replacement (Dodge et al. 2019's
    estimator; Sivaprasad et al. 2020's tunability curve)."""
    return pd.DataFrame([expected_at(configs, k, replacement=True) for k in range(1, len(configs) + 1)])


def headline_keys(task: str) -> list[str]:
    """The workload keys of a shipped task's headline workloads, in the order the file lists them."""
    from ..spec import headline_workloads
    from ..identity import workload_key
    try:
        return [workload_key(t) for t in headline_workloads(load_task(task))]
    except ConfigError:
        return []


def ordered(found: list[Study], task: str) -> list[Study]:
    """Headline workloads first (marked), in the task file's order, then the rest by label."""
    keys = headline_keys(task)
    for s in found:
        s.headline = s.workload_key in keys
    return sorted(found, key=lambda s: (keys.index(s.workload_key) if s.headline else len(keys), s.workload))


def describe_configuration(config_json: str) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in sorted(hyperparameters(config_json).items()))


def lr_points(study: Study) -> pd.DataFrame:
    """Per seed: the capped metric of every configuration in each optimizer's lr scan."""
    keys = [k for e in study.entries if e.lr_sensitivity is not None for k in e.scan["config_key"]]
    points = study.trials[study.trials["config_key"].isin(keys)]
    return points.assign(capped=capped_metric(points, study.scoring), lr=points["lr"].astype(float))


def best_trials(found: list[Study]) -> pd.DataFrame:
    """The trials (every seed) of each optimizer's best configuration on each workload."""
    frames = [e.trials for s in found for e in s.entries]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def workload_rest(workload_json: str | None, drop: tuple[str, ...] = ("model.width", "model.depth")) -> str:
    """The workload's fields other than `drop` (by default width and depth), as a comparable string."""
    try:
        fields = json.loads(workload_json) if workload_json else {}
    except (TypeError, ValueError):
        fields = {}
    if not isinstance(fields, dict):
        fields = {}
    return json.dumps({k: v for k, v in fields.items() if k not in drop}, sort_keys=True)


def phase_table(found: list[Study], value: str) -> pd.DataFrame:
    """A row per workload × optimizer — width, depth and the best configuration's `value`
    ("metric" or "time") — for the workloads that differ from the first one in width and depth only."""
    if not found:
        return pd.DataFrame(columns=["optimizer", "width", "depth", value])
    first = workload_rest(found[0].trials["workload_json"].iloc[0])
    rows = [{"optimizer": e.optimizer, "width": e.trials["width"].iloc[0], "depth": e.trials["depth"].iloc[0],
             value: float(e.best[value])}
            for s in found if workload_rest(s.trials["workload_json"].iloc[0]) == first for e in s.entries]
    return pd.DataFrame(rows, columns=["optimizer", "width", "depth", value]).dropna(subset=["width", "depth"])


def bootstrap_expected_times(study: Study, rng: np.random.Generator, resamples: int) -> dict[str, np.ndarray]:
    """Per optimizer, `resamples` values of its expected time to target at the study's equal
    budget, each computed after resampling every configuration's seeds with replacement."""
    out = {}
    for entry in study.entries:
        keys = entry.configs["config_key"].tolist()
        mine = study.trials[study.trials["optimizer"] == entry.optimizer]
        mine = mine.assign(capped=capped_metric(mine, study.scoring))
        groups = [mine[mine["config_key"] == k] for k in keys]
        width = max(len(g) for g in groups)
        times = np.full((len(keys), width), np.nan)
        metric = np.full((len(keys), width), np.nan)
        sign = 1.0 if study.scoring.direction == "min" else -1.0
        for i, g in enumerate(groups):
            times[i, :len(g)] = g[study.measure].astype(float)
            metric[i, :len(g)] = sign * g["capped"].astype(float)
        counts = np.array([len(g) for g in groups])
        picks = (rng.random((resamples, len(keys), width)) * counts[None, :, None]).astype(int)
        valid = np.arange(width)[None, None, :] < counts[None, :, None]
        t = np.where(valid, np.take_along_axis(np.broadcast_to(times, picks.shape), picks, 2), np.nan)
        m = np.where(valid, np.take_along_axis(np.broadcast_to(metric, picks.shape), picks, 2), np.nan)
        t_med, m_mean = np.nanmedian(t, axis=2), np.nanmean(m, axis=2)
        primary = t_med if study.scoring.by == "time_to_target" else m_mean
        order = np.lexsort((m_mean, primary), axis=-1)
        ranked = np.take_along_axis(t_med, order, axis=1)
        weights = best_of_k_weights(len(keys), study.k)
        used = weights > 0
        values = ranked[:, used]
        finite = np.array([weighted_sum(weights[used], row) for row in np.where(np.isinf(values), 0.0, values)])
        out[entry.optimizer] = np.where(np.isinf(values).any(axis=1), np.inf, finite)
    return out


def bootstrap_reported_times(study: Study, rng: np.random.Generator, resamples: int) -> dict[str, np.ndarray]:
    """Per optimizer, `resamples` medians of its chosen configuration's times to target on its held-out
    seeds, each after resampling those seeds with replacement."""
    out = {}
    for entry in study.entries:
        times = entry.trials[study.measure].astype(float).to_numpy()
        picks = (rng.random((resamples, len(times))) * len(times)).astype(int)
        out[entry.optimizer] = np.median(times[picks], axis=1)
    return out
