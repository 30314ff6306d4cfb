"""Findings: what the store supports, one line per claim, each with its evidence — generated, never
written by hand.  Every claim is computed from the protocol's studies (the numbers the leaderboard
shows); a statement whose evidence is not there is not made:

- **leader** (per workload with two or more optimizers): which optimizer ranks first at equal budget,
  and whether its chosen configuration's lead over the runner-up's exceeds the 95% interval of the
  difference (Welch's t over the seeds); otherwise the line says the two are not separated.
- **lr_range** (per workload): each optimizer's stable learning rates — those of its lr scan whose
  median seed reaches the target — where it has a scan (≥ 3 rates over ≥ a decade).
- **floor** (per workload where δ-GClip ran): how often its chosen configuration's step was at the
  δ floor; where that was ≥ 1% of steps and GClip (δ = 0) ran too, the difference of their tuned
  results and whether it exceeds the 95% interval.  Workloads where it engaged on fewer are one line
  per task.
- **theory** (teacher_mlp, δ-GClip): on each headline workload whether the loss fell geometrically over
  the second half (R² of log loss against step ≥ 0.9 on every seed of the chosen configuration);
  across widths at one depth, whether the relative distance from w₀ shrank with width (the
  configuration chosen at the largest width, run at every width).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ..summary import fmt
from .protocol import Entry, Study, capped_metric, hyperparameters

FLOOR_ENGAGED = 0.01      # share of steps at the δ floor from which it counts as engaged
GEOMETRIC_R2 = 0.9        # R² of log loss against step, second half, every seed
THEORY_TASKS = ("teacher_mlp",)
FLOORED = ("delta_gclip", "delta_gclip_per_tensor")


@dataclass(frozen=True)
class Finding:
    kind: str                 # leader, lr_range, floor, theory
    task: str
    workload: str             # "" for a line about a whole task
    claim: str
    evidence: dict[str, Any] = field(default_factory=dict)


def findings(found: list[tuple[str, Study]]) -> list[dict[str, Any]]:
    """Every finding the studies support, task by task, as plain dictionaries (JSON-ready)."""
    out: list[Finding] = []
    for task in dict.fromkeys(task for task, _ in found):
        mine = [s for t, s in found if t == task]
        for study in mine:
            out += [f for f in (leader(task, study), lr_range(task, study)) if f]
        out += floor(task, mine)
        if task in THEORY_TASKS:
            out += geometric(task, [s for s in mine if s.headline]) + distance_vs_width(task, mine)
    return [asdict(f) for f in out]


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(a) − mean(b) and its 95% Welch interval (NaN bounds with fewer than 2 values a side or
    no spread)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore"):     # two misses (∞ − ∞): no difference to state
        diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return diff, math.nan, math.nan
    if a.std() == 0 and b.std() == 0:
        return diff, diff, diff
    low, high = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return diff, float(low), float(high)


def _values(study: Study, entry: Entry) -> np.ndarray:
    """Per seed of the entry's chosen configuration, the value its rank is decided by, oriented so
    that lower is better: time to target for a time-to-target task, else the capped metric."""
    if study.scoring.by == "time_to_target":
        return entry.trials[study.measure].astype(float).to_numpy()
    sign = 1.0 if study.scoring.direction == "min" else -1.0
    return sign * capped_metric(entry.trials, study.scoring).to_numpy()


def _what(study: Study) -> str:
    return study.measure.replace("_", " ") if study.scoring.by == "time_to_target" else study.scoring.metric


def _advantage(study: Study, mine: Entry, other: Entry) -> dict[str, Any]:
    """How much better `mine`'s chosen configuration did than `other`'s (positive: better; in the
    metric's units, or in steps/seconds to target), its 95% Welch interval and the verdict."""
    diff, low, high = welch(_values(study, other), _values(study, mine))
    verdict = ("not separated" if not (math.isfinite(low) and math.isfinite(high))
               else "better" if low > 0 else "worse" if high < 0 else "not separated")
    interval = f"95% Welch interval {fmt(low, 3)} to {fmt(high, 3)}" if math.isfinite(low) else "no interval"
    return {"advantage": diff, "ci95": [low, high], "verdict": verdict,
            "seeds": [len(mine.trials), len(other.trials)], "measure": _what(study),
            "text": f"advantage in tuned {_what(study)} {fmt(diff, 3)} ({interval}, {len(mine.trials)} and "
                    f"{len(other.trials)} seeds)"}


def leader(task: str, study: Study) -> Finding | None:
    if len(study.entries) < 2:
        return None
    first, second = study.entries[0], study.entries[1]
    k = study.k
    lead = _advantage(study, first, second)
    text = lead.pop("text")
    evidence = {"first": first.optimizer, "runner_up": second.optimizer, "k": k,
                "expected_best": {e.optimizer: e.expected["primary"] for e in (first, second)}, **lead}
    if first.rank == second.rank:
        claim = f"{first.optimizer} and {second.optimizer} tie for first at equal budget (k = {k})."
    elif lead["verdict"] == "better":
        claim = (f"{first.optimizer} is best at equal budget (k = {k}), ahead of {second.optimizer} beyond the "
                 f"95% interval: {text}.")
    elif lead["verdict"] == "worse":
        claim = (f"{first.optimizer} ranks first at equal budget (k = {k}), but {second.optimizer}'s tuned best is "
                 f"better beyond the 95% interval: {text}.")
    else:
        claim = (f"{first.optimizer} ranks first at equal budget (k = {k}) but is not separated from "
                 f"{second.optimizer}: {text}.")
    return Finding("leader", task, study.workload, claim, evidence)


def lr_range(task: str, study: Study) -> Finding | None:
    parts, evidence = [], {}
    for entry in study.entries:
        if entry.lr_sensitivity is None:
            continue
        lrs = entry.scan["lr"].astype(float)
        stable = sorted(lrs[entry.scan["reached"]].tolist())
        evidence[entry.optimizer] = {"tried": sorted(lrs.tolist()), "stable": stable,
                                     "decades": entry.stable_lr_decades}
        if not stable:
            parts.append(f"{entry.optimizer} none of {len(lrs)}")
        elif len(stable) == 1:
            parts.append(f"{entry.optimizer} only η = {stable[0]:g}")
        else:
            parts.append(f"{entry.optimizer} η {stable[0]:g}–{stable[-1]:g} ({entry.stable_lr_decades:.1f} decades)")
    if not parts:
        return None
    claim = "learning rates whose median seed reaches the target: " + "; ".join(parts) + "."
    return Finding("lr_range", task, study.workload, claim, evidence)


def floor(task: str, found: list[Study]) -> list[Finding]:
    out, quiet = [], []
    for study in found:
        for entry in (e for e in study.entries if e.optimizer in FLOORED):
            share = float(entry.trials["frac_floor"].astype(float).mean())
            if not math.isfinite(share):
                continue
            if share < FLOOR_ENGAGED:
                quiet.append((study.workload, entry.optimizer, share))
                continue
            delta = hyperparameters(entry.best["config_json"]).get("delta")
            evidence = {"optimizer": entry.optimizer, "frac_floor": share, "delta": delta}
            claim = (f"the δ floor engaged on {share:.1%} of {entry.optimizer}'s steps (chosen configuration, "
                     f"δ = {delta:g})" if isinstance(delta, (int, float)) else
                     f"the δ floor engaged on {share:.1%} of {entry.optimizer}'s steps (chosen configuration)")
            gclip = next((e for e in study.entries if e.optimizer == "gclip"), None)
            if gclip is not None:
                against = _advantage(study, entry, gclip)
                text = against.pop("text")
                evidence |= {"against": "gclip", **against}
                outcome = {"better": "better than GClip's tuned best beyond the 95% interval",
                           "worse": "worse than GClip's tuned best beyond the 95% interval",
                           "not separated": "not separated from GClip's tuned best"}[against["verdict"]]
                claim += f"; {entry.optimizer} is {outcome} ({text})"
            out.append(Finding("floor", task, study.workload, claim + ".", evidence))
    if quiet:
        claim = (f"the δ floor engaged on fewer than {FLOOR_ENGAGED:.0%} of steps of the chosen δ-GClip "
                 f"configuration on {len(quiet)} workload{'s' if len(quiet) > 1 else ''}: there δ-GClip ran as "
                 "GClip.")
        out.append(Finding("floor", task, "", claim,
                           {"workloads": [{"workload": w, "optimizer": o, "frac_floor": s} for w, o, s in quiet]}))
    return out


def geometric(task: str, headline: list[Study]) -> list[Finding]:
    out = []
    for study in headline:
        entry = next((e for e in study.entries if e.optimizer == "delta_gclip"), None)
        if entry is None or entry.trials.empty:
            continue
        rate = entry.trials["loss_rate_second_half"].astype(float)
        r2 = entry.trials["loss_rate_second_half_r2"].astype(float)
        if not (np.isfinite(rate).all() and np.isfinite(r2).all()):
            continue
        evidence = {"rate": rate.tolist(), "r2": r2.tolist(), "threshold": GEOMETRIC_R2,
                    "configuration": hyperparameters(entry.best["config_json"])}
        if (r2 >= GEOMETRIC_R2).all() and (rate < 1).all():
            claim = (f"δ-GClip's training loss fell geometrically over the second half of the run: ×{rate.mean():.4f} "
                     f"per step (R² ≥ {r2.min():.2f} on each of {len(r2)} seeds), as the theorem predicts.")
        else:
            claim = (f"δ-GClip's training loss did not fall geometrically over the second half on every seed "
                     f"(R² {r2.min():.2f}–{r2.max():.2f}, rate ×{rate.min():.4f}–×{rate.max():.4f} per step).")
        out.append(Finding("theory", task, study.workload, claim, evidence))
    return out


def distance_vs_width(task: str, found: list[Study]) -> list[Finding]:
    by_rest: dict[str, list[Study]] = {}
    for study in found:
        fields = json.loads(study.trials["workload_json"].iloc[0] or "{}")
        rest = json.dumps({k: v for k, v in fields.items() if k != "model.width"}, sort_keys=True)
        by_rest.setdefault(rest, []).append(study)
    out = []
    for rest, group in by_rest.items():
        if len({s.trials["width"].iloc[0] for s in group}) < 2:
            continue
        group = sorted(group, key=lambda s: int(s.trials["width"].iloc[0]))
        chosen = next((e for e in group[-1].entries if e.optimizer == "delta_gclip"), None)
        if chosen is None:
            continue
        wanted = hyperparameters(chosen.best["config_json"])
        widths, distances = [], []
        for study in group:
            runs = study.trials[(study.trials["optimizer"] == "delta_gclip")
                                & study.trials["config_json"].map(lambda c: hyperparameters(c) == wanted)]
            runs = runs[runs["status"] != "diverged"]
            value = runs["max_rel_dist_from_init"].astype(float)
            if value.empty or not np.isfinite(value).all():
                widths = []
                break
            widths.append(int(study.trials["width"].iloc[0]))
            distances.append(float(value.mean()))
        if not widths:
            continue
        depth = json.loads(rest).get("model.depth")
        shrinks = all(b < a for a, b in zip(distances, distances[1:]))
        series = ", ".join(f"{d:.3g} at width {w}" for w, d in zip(widths, distances))
        setting = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(wanted.items()))
        claim = (f"at depth {depth}, δ-GClip's largest relative distance from w₀ ({setting}) "
                 + ("shrank with width, as the theorem predicts: " if shrinks else "did not shrink with width: ")
                 + series + ".")
        out.append(Finding("theory", task, f"depth {depth}", claim,
                           {"widths": widths, "max_rel_dist_from_init": distances, "configuration": wanted,
                            "shrinks": shrinks}))
    return out


def markdown_lines(board_findings: list[dict[str, Any]]) -> list[str]:
    """One bullet per finding: the workload (or task) it is about, then the claim."""
    return [f"- **{f['workload'] or f['task']}**: {f['claim']}" for f in board_findings]


__all__ = ["Finding", "findings", "markdown_lines", "welch"]
