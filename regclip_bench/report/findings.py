"""Findings: what the store supports, one line per claim, each with its evidence — generated, never
written by hand.  Every claim is computed from the protocol's studies (the numbers the leaderboard
shows); a statement whose evidence is not there is not made:

- **leader** (per workload with two or more optimizers): which optimizer ranks first at equal budget,
  and whether its chosen configuration's lead over the runner-up's exceeds the 95% interval of the
  difference (Welch's t over the seeds; where some seed missed the target, Boschloo's exact test of how
  many reached it, at 5%); otherwise the line says the two are not separated.
- **range_edge** (per workload): each optimizer's tuned hyperparameters — any axis — whose chosen value is
  the smallest or the largest of those its configurations tried (at least 3): its best may lie beyond.
- **lr_range** (per workload): each optimizer's stable learning rates — those of its lr scan whose
  median seed reaches the target — where it has a scan (≥ 3 rates over ≥ a decade), and whether its
  chosen rate is the scan's smallest or largest (then its tuned best may lie beyond the grid).
- **floor** (per workload where δ-GClip ran): how often its chosen configuration's step was at the
  δ floor; where that was ≥ 1% of steps and GClip (δ = 0) ran too, the difference of their tuned
  results and whether it exceeds the 95% interval.  Workloads where it engaged on fewer are one line
  per task.
- **theory** (teacher_mlp, δ-GClip): on each headline workload whether the loss fell geometrically over
  the second half — a geometric decay beating a power law fitted to the same rows by ΔAIC ≥ 10 on every
  seed of the chosen configuration (`decay_shape`; a high R² of log loss against step alone cannot tell
  them apart); across widths at one depth, whether the relative distance from w₀ shrank with width, each
  fall beyond its 95% Welch interval (the configuration chosen at the largest width, run at every width),
  with the absolute distance ‖w − w₀‖ and ‖w₀‖ beside it: where the absolute distance does not shrink,
  the relative shrinkage is ‖w₀‖'s growth, which is what the lazy-training picture predicts.
- **lr_range**: "stable" means the median seed meets the target by what is scored (`protocol`).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..optim.registry import OPTIMIZERS
from ..summary import fit_line, fmt
from .protocol import Entry, Study, capped_metric, describe_configuration, hyperparameters, workload_rest

FLOOR_ENGAGED = 0.01      # share of steps at the δ floor from which it counts as engaged
GEOMETRIC_MARGIN = 10.0   # ΔAIC by which a geometric decay must beat a power law on every seed
THEORY_TASKS = ("teacher_mlp",)
FLOORED = tuple(name for name, entry in OPTIMIZERS.items() if entry.floored)   # δ-GClip and its per-tensor variant


@dataclass(frozen=True)
class Finding:
    kind: str                 # leader, range_edge, lr_range, floor, theory
    task: str
    workload: str             # "" for a line about a whole task
    claim: str
    evidence: dict[str, Any] = field(default_factory=dict)
    headline: bool = True     # about a headline workload, or the whole task


StepsLoader = Callable[[str, list[str]], pd.DataFrame]   # (task, trial ids) → their logged steps


def findings(found: list[tuple[str, Study]], steps: StepsLoader | None = None) -> list[dict[str, Any]]:
    """Every finding the studies support, task by task, as plain dictionaries (JSON-ready).  `steps`
    loads logged rows (the decay-shape check needs them; without it that check says nothing)."""
    out: list[Finding] = []
    for task in dict.fromkeys(task for task, _ in found):
        mine = [s for t, s in found if t == task]
        for study in mine:
            out += [f for f in (leader(task, study), range_edges(task, study), lr_range(task, study)) if f]
        out += floor(task, mine)
        if task in THEORY_TASKS:
            out += geometric(task, [s for s in mine if s.headline], steps) + distance_vs_width(task, mine)
    return [asdict(f) for f in out]


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """mean(a) − mean(b) and its 95% Welch interval (NaN bounds with fewer than 2 values a side).
    Where every seed is alike on each side (times counted in evaluation intervals often are), t is
    undefined and the order is all the evidence: the bounds are the difference itself where an exact
    permutation test separates the sides at 5% (`no_spread_p`), else NaN."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(invalid="ignore"):     # two misses (∞ − ∞): no difference to state
        diff = float(a.mean() - b.mean())
    if len(a) < 2 or len(b) < 2 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return diff, math.nan, math.nan
    if no_spread(a, b):
        return (diff, diff, diff) if diff == 0 or no_spread_p(len(a), len(b)) < 0.05 else (diff, math.nan, math.nan)
    with warnings.catch_warnings():    # nearly equal seeds: scipy warns of precision loss, the interval stands
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    return diff, float(low), float(high)


def no_spread(a: np.ndarray, b: np.ndarray) -> bool:
    """Two or more values a side, every one alike within its side (where `welch` tests the order)."""
    return len(a) >= 2 and len(b) >= 2 and np.ptp(a) == 0 and np.ptp(b) == 0


def no_spread_p(n: int, m: int) -> float:
    """Two-sided exact permutation p of two samples of n and m values, each all alike and the two
    different: 2 of the C(n + m, n) ways to split them are as extreme (3 against 3: 0.1)."""
    return 2 / math.comb(n + m, n)


def _times(study: Study, entry: Entry) -> np.ndarray:
    return entry.trials[study.measure].astype(float).to_numpy()


def _metric(study: Study, entry: Entry) -> np.ndarray:
    """The capped metric per seed of the entry's chosen configuration, oriented so that lower is better."""
    sign = 1.0 if study.scoring.direction == "min" else -1.0
    return sign * capped_metric(entry.trials, study.scoring).to_numpy()


def _advantage(study: Study, mine: Entry, other: Entry) -> dict[str, Any]:
    """How much better `mine`'s chosen configuration did than `other`'s — positive: better — by what
    decides the rank: the time to target (steps or seconds) for a time-to-target task, the metric
    where neither reached the target on any seed (the rank's tie-break) or for a final-metric task;
    with its 95% Welch interval and the verdict.  Where some seed missed the target, the seeds that
    reached it are compared instead, by Boschloo's exact test at the same 5% level (the seeds per side
    are fixed, the reached counts are not: an unconditional test, uniformly more powerful than Fisher's;
    3 of 3 against 0 of 3 is p = 1/32, against 1 of 3 p = 7/32); where every seed is alike on each
    side, by their order (`welch`)."""
    seeds = [len(mine.trials), len(other.trials)]
    a, b = _times(study, mine), _times(study, other)
    reached = (int(np.isfinite(a).sum()), int(np.isfinite(b).sum()))
    by_time = study.scoring.by == "time_to_target" and reached != (0, 0)
    what = study.measure.replace("_", " ") if by_time else study.scoring.metric
    if by_time and reached != tuple(seeds):     # some seed missed: how often each reached the target
        p = boschloo(reached, seeds)
        verdict = ("not separated" if p >= 0.05 else
                   "better" if reached[0] * seeds[1] > reached[1] * seeds[0] else "worse")
        return {"advantage": None, "ci95": [None, None], "verdict": verdict, "seeds": seeds,
                "reached": list(reached), "p_value": p, "measure": what,
                "text": f"its chosen configuration reached the target on {reached[0]} of {seeds[0]} seeds, "
                        f"{other.optimizer}'s on {reached[1]} of {seeds[1]} (Boschloo's exact test, p = {fmt(p, 2)})"}
    x, y = (b, a) if by_time else (_metric(study, other), _metric(study, mine))
    diff, low, high = welch(x, y)
    verdict = ("not separated" if not (math.isfinite(low) and math.isfinite(high))
               else "better" if low > 0 else "worse" if high < 0 else "not separated")
    alike = math.isfinite(diff) and no_spread(np.asarray(x, float), np.asarray(y, float))   # no Welch interval
    interval = ("every seed alike on each side" + (f": permutation test p = {fmt(no_spread_p(*seeds), 2)}" if diff else "")
                if alike else f"95% Welch interval {fmt(low, 3)} to {fmt(high, 3)}" if math.isfinite(low) else "no interval")
    return {"advantage": diff, "ci95": [low, high], "verdict": verdict, "seeds": seeds, "measure": what,
            "text": f"advantage in tuned {what} {fmt(diff, 3)} ({interval}, {seeds[0]} and {seeds[1]} seeds)"}


def _beyond(advantage: dict[str, Any]) -> str:
    low, high = advantage["ci95"]
    return " beyond the 95% interval" if advantage["advantage"] is not None and low != high else ""


def leader(task: str, study: Study) -> Finding | None:
    """The first at equal budget against each optimizer below it, in rank order: those it is not
    separated from, then the first it leads beyond the interval (and any whose tuned best beats it)."""
    if len(study.entries) < 2:
        return None
    first, k = study.entries[0], study.k
    where = _ranked_where(study)
    compared = [(e, _advantage(study, first, e)) for e in study.entries[1:]]
    evidence = {"first": first.optimizer, "k": k, "expected_best": {e.optimizer: e.expected["primary"]
                                                                     for e in study.entries},
                "against": {e.optimizer: {key: v for key, v in a.items() if key != "text"} for e, a in compared}}
    tied = [e.optimizer for e in study.entries[1:] if e.rank == first.rank]
    if tied:
        return Finding("leader", task, study.workload,
                       f"{' and '.join([first.optimizer, *tied])} tie for first {where}.",
                       evidence, study.headline)
    close = []
    for entry, lead in compared:
        if lead["verdict"] != "not separated":
            break
        close.append(entry.optimizer)
    ahead = next(((e, a) for e, a in compared if a["verdict"] == "better"), None)
    behind = next(((e, a) for e, a in compared if a["verdict"] == "worse"), None)
    if not close and ahead is not None:
        entry, lead = ahead
        claim = (f"{first.optimizer} is best {where}, ahead of {entry.optimizer}{_beyond(lead)}: "
                 f"{lead['text']}")
    else:
        runner_up = compared[0][1]
        claim = (f"{first.optimizer} ranks first {where} but is not separated from "
                 f"{', '.join(close)} ({compared[0][0].optimizer}: {runner_up['text']})")
        if ahead is not None:
            entry, lead = ahead
            claim += f"; it is ahead of {entry.optimizer}{_beyond(lead)}: {lead['text']}"
    if behind is not None:
        entry, lead = behind
        claim += f"; but {entry.optimizer}'s tuned best is better{_beyond(lead)}: {lead['text']}"
    return Finding("leader", task, study.workload, claim + ".", evidence | {"not_separated_from": close},
                   study.headline)


def _ranked_where(study: Study) -> str:
    """What the rank is on: the held-out seeds (configurations chosen on others), or the equal budget."""
    if study.held_out:
        first = study.entries[0]
        return (f"on {len(first.seeds['report'])} held-out seeds (each optimizer's configuration chosen among "
                f"{study.k} on {len(first.seeds['tune'])} other seeds)")
    return f"at equal budget (k = {study.k})"


SYMBOLS = {"lr": "η", "gamma": "γ", "delta": "δ"}
# an edge where the method turns into another that the board ranks on its own: the data prefer that one
LIMITS = {("delta", "smallest"): "δ → 0 is GClip, ranked on its own",
          ("weight_decay", "smallest"): "weight decay → 0 is the same optimizer without it (AdamW → Adam), ranked on its own"}
LIMIT_OPTIMIZER = {("delta_gclip", "delta"): "gclip", ("adamw", "weight_decay"): "adam"}   # the entry that limit is


def range_edges(task: str, study: Study) -> Finding | None:
    """Per optimizer, each tuned hyperparameter whose chosen value is the smallest or the largest of the
    values its configurations tried (at least 3): its tuned best may lie beyond them, and a comparison with
    it may flatter the others.  Any axis — η, γ, δ, weight decay, momentum, β's."""
    parts, evidence = [], {}
    ranks = {e.optimizer: e.rank for e in study.entries}
    for entry in study.entries:
        tried = [hyperparameters(c) for c in entry.configs["config_json"]]
        edges = {}
        for key, value in sorted(hyperparameters(entry.best["config_json"]).items()):
            values = sorted({t[key] for t in tried if _numeric(t.get(key))})
            if not _numeric(value) or len(values) < 3 or values[0] < value < values[-1]:
                continue
            side = "smallest" if value == values[0] else "largest"
            edges[key] = {"chosen": value, "side": side, "tried": len(values), "low": values[0], "high": values[-1],
                          "limit": LIMITS.get((key, side))}
            limit = LIMIT_OPTIMIZER.get((entry.optimizer, key)) if edges[key]["limit"] else None
            if limit in ranks:   # the data's verdict on the limit: both ranks, side by side
                edges[key]["limit"] += f" (rank {ranks[limit]}; {entry.optimizer}: rank {entry.rank})"
        if edges:
            evidence[entry.optimizer] = edges
            parts.append(f"{entry.optimizer} " + ", ".join(
                f"{SYMBOLS.get(k, k)} = {e['chosen']:g} (the {e['side']} of {e['tried']} tried, {e['low']:g}–{e['high']:g}"
                + (f"; {e['limit']}" if e["limit"] else "") + ")" for k, e in edges.items()))
    if not parts:
        return None
    claim = ("chosen at the edge of what was tried — the tuned best may lie beyond, and the comparison may "
             "flatter the others: " + "; ".join(parts) + ".")
    return Finding("range_edge", task, study.workload, claim, evidence, study.headline)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def lr_range(task: str, study: Study) -> Finding | None:
    parts, evidence = [], {}
    for entry in study.entries:
        if entry.lr_sensitivity is None:
            continue
        lrs, best = entry.scan["lr"].astype(float), float(entry.best["lr"])
        stable = sorted(lrs[entry.scan["stable"]].tolist())
        # a best at the end of the scan: the tuned best may lie beyond the grid
        edge = "smallest" if best == lrs.min() else "largest" if best == lrs.max() else None
        evidence[entry.optimizer] = {"tried": sorted(lrs.tolist()), "stable": stable,
                                     "decades": entry.stable_lr_decades, "best": best, "best_at_edge": edge}
        if not stable:
            text = f"none of {len(lrs)}"
        elif len(stable) == 1:
            text = f"only η = {stable[0]:g}"
        else:
            gaps = sorted({lr for lr in lrs.tolist() if stable[0] < lr < stable[-1] and lr not in stable})
            but = f"; not η = {', '.join(f'{lr:g}' for lr in gaps)}" if gaps else ""
            text = f"η {stable[0]:g}–{stable[-1]:g} ({entry.stable_lr_decades:.1f} decades{but})"
        parts.append(f"{entry.optimizer} {text}" + (f", best at the {edge} η tried" if edge else ""))
    if not parts:
        return None
    how = "reaches the target" if study.scoring.by == "time_to_target" else "ends at the target"
    claim = f"learning rates whose median seed {how}: " + "; ".join(parts) + "."
    return Finding("lr_range", task, study.workload, claim, evidence, study.headline)


def boschloo(reached: tuple[int, int], seeds: tuple[int, int]) -> float:
    """Boschloo's exact test (two-sided) of reached[i] successes in seeds[i] trials, i = the two sides.
    scipy.stats.boschloo_exact compares the table's *columns* as the two groups: one column per side."""
    table = [[reached[0], reached[1]], [seeds[0] - reached[0], seeds[1] - reached[1]]]
    return float(stats.boschloo_exact(table, alternative="two-sided").pvalue)


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
                outcome = {"better": f"better than GClip's tuned best{_beyond(against)}",
                           "worse": f"worse than GClip's tuned best{_beyond(against)}",
                           "not separated": "not separated from GClip's tuned best"}[against["verdict"]]
                claim += f"; {entry.optimizer} is {outcome} ({text})"
            out.append(Finding("floor", task, study.workload, claim + ".", evidence, study.headline))
    if quiet:
        counts = {o: sum(q[1] == o for q in quiet) for o in dict.fromkeys(q[1] for q in quiet)}
        which = ", ".join(f"{o} on {n} workload{'s' if n > 1 else ''}" for o, n in counts.items())
        claim = (f"the δ floor engaged on fewer than {FLOOR_ENGAGED:.0%} of the steps of the chosen configuration "
                 f"({which}): there δ-GClip ran as GClip.")
        out.append(Finding("floor", task, "", claim,
                           {"workloads": [{"workload": w, "optimizer": o, "frac_floor": s} for w, o, s in quiet]}))
    return out


def decay_shape(rows: pd.DataFrame) -> dict[str, Any] | None:
    """Over the second half of a trial's logged rows: ln L fitted by least squares against the step t
    (geometric decay, L ∝ ρᵗ) and against ln t (a power law, L ∝ t^−α).  Both have two parameters, so
    Akaike's criterion compares them by ΔAIC = n·ln(RSS_power / RSS_geometric): positive favours
    geometric; |ΔAIC| ≥ GEOMETRIC_MARGIN is a clear win (Burnham & Anderson 2002: beyond 10, the other
    has essentially no support).  None with fewer than 4 usable rows."""
    rows = rows.sort_values("step")
    last = float(rows["step"].max())
    late = rows[(rows["step"] >= last / 2) & (rows["loss"] > 0) & np.isfinite(rows["loss"].astype(float))]
    if len(late) < 4:
        return None
    t, y = late["step"].astype(float).to_numpy(), np.log(late["loss"].astype(float).to_numpy())
    variance = float(((y - y.mean()) ** 2).sum())
    rss = {}
    for name, x in (("geometric", t), ("power_law", np.log(t))):
        slope, r2 = fit_line(list(zip(x.tolist(), y.tolist())))
        rss[name] = max((1.0 - r2) * variance, 1e-300) if math.isfinite(r2) else math.nan
        rss[f"{name}_slope"] = slope
    delta = len(late) * math.log(rss["power_law"] / rss["geometric"])
    shape = "geometric" if delta >= GEOMETRIC_MARGIN else "power law" if delta <= -GEOMETRIC_MARGIN else "undecided"
    return {"shape": shape, "delta_aic": delta, "rows": len(late), "rate": math.exp(rss["geometric_slope"]),
            "power": -rss["power_law_slope"]}


def geometric(task: str, headline: list[Study], steps: StepsLoader | None) -> list[Finding]:
    """Whether δ-GClip's chosen configuration's loss fell geometrically — the theorem's claim — rather
    than as a power law, on every seed of each headline workload (`decay_shape`)."""
    out = []
    for study in headline:
        entry = next((e for e in study.entries if e.optimizer == "delta_gclip"), None)
        if entry is None or entry.trials.empty or steps is None:
            continue
        rows = steps(task, entry.trials["trial_id"].tolist())
        shapes = [decay_shape(rows[rows["trial_id"] == t]) for t in entry.trials["trial_id"]]
        if not rows.size or any(s is None for s in shapes):
            continue
        evidence = {"seeds": shapes, "margin": GEOMETRIC_MARGIN, "window": "second half of the logged rows",
                    "configuration": hyperparameters(entry.best["config_json"])}
        deltas = [s["delta_aic"] for s in shapes]
        span = f"ΔAIC {min(deltas):.3g} to {max(deltas):.3g}" if len(deltas) > 1 else f"ΔAIC {deltas[0]:.3g}"
        if all(s["shape"] == "geometric" for s in shapes):
            rate = float(np.mean([s["rate"] for s in shapes]))
            claim = (f"δ-GClip's training loss fell geometrically over the second half of the run, ×{rate:.4f} per "
                     f"step: a geometric decay fits clearly better than a power law on each of {len(shapes)} seeds "
                     f"({span} ≥ {GEOMETRIC_MARGIN:g}), as the theorem predicts.")
        else:
            counts = {k: sum(s["shape"] == k for s in shapes) for k in ("geometric", "power law", "undecided")}
            said = ", ".join(f"{k} on {n}" for k, n in counts.items() if n)
            claim = (f"δ-GClip's training loss did not fall clearly geometrically over the second half on every "
                     f"seed: {said} of {len(shapes)} ({span}; geometric needs ≥ {GEOMETRIC_MARGIN:g} over a power law).")
        out.append(Finding("theory", task, study.workload, claim, evidence))
    return out


def distance_vs_width(task: str, found: list[Study]) -> list[Finding]:
    """At each depth with two or more widths: whether δ-GClip's largest relative distance from w₀, at the
    configuration chosen at the largest width run at every width, shrank with width (the theorem) — each
    fall beyond its Welch interval — with the absolute distance and ‖w₀‖ beside it."""
    by_rest: dict[str, list[Study]] = {}
    for study in found:
        by_rest.setdefault(workload_rest(study.trials["workload_json"].iloc[0], ("model.width",)), []).append(study)
    out = []
    for rest, group in by_rest.items():
        if len({s.trials["width"].iloc[0] for s in group}) < 2:
            continue
        group = sorted(group, key=lambda s: int(s.trials["width"].iloc[0]))
        chosen = next((e for e in group[-1].entries if e.optimizer == "delta_gclip"), None)
        measured = _distances(group, hyperparameters(chosen.best["config_json"])) if chosen is not None else None
        if measured is not None:
            depth = json.loads(rest).get("model.depth")
            out.append(_distance_finding(task, depth, describe_configuration(chosen.best["config_json"]), *measured))
    return out


def _distances(group: list[Study], wanted: dict[str, Any]) -> tuple | None:
    """(widths, relative distances per width, absolute distances per width, mean ‖w₀‖ per width) of the
    configuration `wanted`'s non-diverged seeds; None where a width lacks a finite value."""
    widths, samples, absolute, w0 = [], [], [], []
    for study in group:
        runs = study.trials[(study.trials["optimizer"] == "delta_gclip")
                            & study.trials["config_json"].map(lambda c: hyperparameters(c) == wanted)]
        runs = runs[runs["status"] != "diverged"]
        value = runs["max_rel_dist_from_init"].astype(float)
        if value.empty or not np.isfinite(value).all():
            return None
        widths.append(int(study.trials["width"].iloc[0]))
        samples.append(value.to_numpy())
        absolute.append(runs["max_dist_from_init"].astype(float).to_numpy())
        w0.append(float(runs["w0_norm"].astype(float).mean()))
    return widths, samples, absolute, w0, wanted


def _distance_finding(task: str, depth, setting: str, widths: list[int], samples: list, absolute: list,
                      w0: list[float], wanted: dict[str, Any]) -> Finding:
    distances = [float(v.mean()) for v in samples]
    steps = [welch(a, b) for a, b in zip(samples, samples[1:])]   # the fall from each width to the next
    shrinks, grows = all(low > 0 for _, low, _ in steps), any(high < 0 for _, _, high in steps)
    series = ", ".join(f"{d:.3g} at width {w}" for w, d in zip(widths, distances))
    verdict = ("shrank with width, as the theorem predicts (each fall beyond its 95% Welch interval): " if shrinks
               else "grew with width, against the theorem (beyond the 95% Welch interval): " if grows
               else "is not separated across widths at the 95% level: ")
    claim = f"at depth {depth}, δ-GClip's largest relative distance from w₀ ({setting}) " + verdict + series + "."
    evidence = {"widths": widths, "max_rel_dist_from_init": distances, "configuration": wanted,
                "shrinks": shrinks, "grows": grows, "falls_ci95": [[low, high] for _, low, high in steps]}
    if all(np.isfinite(a).all() and len(a) for a in absolute) and all(math.isfinite(v) for v in w0):
        means = [float(a.mean()) for a in absolute]
        absolute_shrinks = all(low > 0 for _, low, _ in (welch(a, b) for a, b in zip(absolute, absolute[1:])))
        claim += (f" The absolute distance ‖w − w₀‖ went {' → '.join(f'{m:.3g}' for m in means)} while ‖w₀‖ grew "
                  f"{' → '.join(f'{v:,.0f}' for v in w0)}"
                  + (": it shrank too." if absolute_shrinks else
                     ": the relative shrinkage is ‖w₀‖'s growth, not a shorter path — what the lazy-training "
                     "picture predicts."))
        evidence |= {"max_dist_from_init": means, "w0_norm": w0, "absolute_shrinks": absolute_shrinks}
    return Finding("theory", task, f"{task}[depth={depth}]", claim, evidence)


def markdown_lines(board_findings: list[dict[str, Any]]) -> list[str]:
    """One bullet per finding: the workload (or task) it is about, then the claim."""
    return [f"- **{f['workload'] or f['task']}**: {f['claim']}" for f in board_findings]


__all__ = ["Finding", "findings", "markdown_lines", "welch"]
