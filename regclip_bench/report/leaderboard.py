"""The leaderboard: per workload × optimizer, the configuration chosen on the tuning seeds, what it achieved
on the held-out seeds (or, on a grid workload, on the seeds that chose it) and how it ranks; across headline
workloads an AlgoPerf-style performance profile over times to target.  leaderboard.json and .md here; the
web page in `page`.

Every number is computed from the results store by `protocol`; tasks without runs are listed as
"not yet run", never filled in.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..results import load
from ..spec import task_names
from ..storage import inside
from . import colors, page, protocol
from .findings import findings, markdown_lines
from .protocol import Entry, Study
from ..summary import fmt
from .report import escape_markdown, markdown_table, tuning_cells

LEADERBOARD_SCHEMA = 3   # 3: as 2, strict JSON (a number that is not finite is null, not Infinity)
R_MAX = 4.0
BOOTSTRAP = 1000


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval (NaN half-width for one value)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) == 1 or not np.isfinite(x).all():
        return float(x.mean()), math.nan
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def compute(store: str) -> dict[str, Any]:
    trials = load(store, "trials")
    colors.use(trials["optimizer"].unique())
    sweeps = load(store, "sweeps")
    ran, modes = _when_ran(sweeps), protocol.sweep_modes(sweeps)
    suite, submitted = protocol.by_source(trials)
    entries, found = _entries(suite, ran, modes, set(task_names()))
    def steps(task: str, trial_ids: list[str]) -> pd.DataFrame:
        return load(store, "steps", {"task": task, "trial_id": trial_ids})

    board = {"schema": LEADERBOARD_SCHEMA, "findings": findings(found, steps), "entries": entries,
             "workloads": [_workload(task, s) for task, s in found],
             "profile": performance_profile([s for _, s in found if s.headline]),
             "rules": RULES}
    if not submitted.empty:   # apart: ranked among themselves, never beside (or instead of) the suite's trials
        board["submitted"] = _entries(submitted, ran, modes, set())[0]
    return board


def _entries(trials: pd.DataFrame, ran: dict[str, tuple[str, str]], modes: dict[str, str],
             listed: set[str]) -> tuple[list[dict[str, Any]], list[tuple[str, Study]]]:
    """Every workload × optimizer entry of `trials`, headline workloads first; tasks in `listed`
    without trials as "not yet run"."""
    entries: list[dict[str, Any]] = []
    found: list[tuple[str, Study]] = []
    for task in sorted(listed | set(trials["task"].unique())):
        group = trials[trials["task"] == task]
        if group.empty:
            entries.append({"task": task, "status": "not yet run", "headline": True})
            continue
        for study in protocol.ordered(protocol.studies(group, modes), task):
            found.append((task, study))
            entries += [_entry(task, study, e, ran) for e in study.entries]
    order = {id(e): i for i, e in enumerate(entries)}
    entries.sort(key=lambda e: (not e["headline"], order[id(e)]))
    return entries, found


RULES = {
    "workloads": "optimizers are compared only on the same workload (model, data, loss, budget, target); "
                 "a task's headline workloads come first",
    "selection": "per workload and optimizer, among that optimizer's configurations on it: the best mean "
                 "over seeds of the target metric capped at its initial value (lowest for a metric to "
                 "minimise, highest for one to maximise; a diverged, failed or timed-out seed counts as its initial "
                 "value); for a time-to-target task, the fewest median steps to the target (seconds where "
                 "every trial ran on one GPU model), ties broken by that metric",
    "protocol": "a workload where every optimizer has trials from the budgeted protocol (sweep --budget N, submit) "
                "is compared on those alone: N configurations per optimizer drawn by a scrambled Halton sequence "
                "from its tuning ranges, each run on the tuning seeds; its grid trials stay out of the ranking. "
                "Any other workload is compared on all its trials",
    "held_out": "each optimizer's configuration is chosen on the tuning seeds (0, 1, 2) and then run on the "
                "protocol's held-out seeds (10000 onwards, 10 by default), which no selection sees; the mean, the "
                "interval, the time to target, every test and the rank are on those where every optimizer of the "
                "workload has them (else every optimizer is reported on its tuning seeds); the rank by them is by "
                "the median time to target, then the share of seeds that reach it, then the metric",
    "ci": "95% Student-t interval of the capped metric over the seeds that report the chosen configuration "
          "(the held-out ones where the workload is reported on them)",
    "equal_budget": "k = the fewest configurations any optimizer tried on the workload; each optimizer's "
                    "expected best of k configurations drawn without replacement from those it tried, by "
                    "exact order statistics (k = every configuration when all tried as many: the best one), on the "
                    "tuning seeds; the rank on a workload without held-out seeds is by it (for a time-to-target "
                    "task where it can miss the target, by its chance of reaching it, then by the metric)",
    "lr_sensitivity": "over the learning rates tried with the other hyperparameters at the best "
                      "configuration's (at least 3, spanning at least a decade): the mean capped metric "
                      "minus the best (Wortsman et al. 2023); empty when there are fewer",
    "stable_lr_decades": "log10(largest / smallest of those learning rates whose median seed meets the target "
                         "by what is scored: reaches it, on a time-to-target task; ends at it (its capped final "
                         "metric), on a final-metric task); 0 when one or none does",
    "profile": f"AlgoPerf-style over the headline workloads of time-to-target tasks: each optimizer's "
               f"time to target (the median over held-out seeds where the workload is ranked on them, else the "
               f"expected best at equal budget) divided by the fastest, ρ(τ) for τ in "
               f"[1, {R_MAX:g}], a possible miss counts as a failure; score = ∫ρ dτ / ({R_MAX:g} − 1)",
    "ranking_ci": f"{BOOTSTRAP} bootstrap resamples of the seeds of every configuration (of the chosen one's held-out "
                  f"seeds where the workload is ranked on them)",
}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def strict_json(value: Any) -> Any:
    """`value` as strict JSON (RFC 8259) holds it: every number that is not finite — a time to target never
    reached, the mean of runs that diverged — is null, as pandas' `to_json` writes it (Python's `Infinity`
    is not JSON: JavaScript's JSON.parse refuses it, jq reads it as the largest double); numpy scalars as
    Python numbers.  A reader of leaderboard.json takes a null time to target as a miss (`page.decisive`)."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    value = _plain(value) if not isinstance(value, (str, bytes)) else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _when_ran(sweeps: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """sweep id → (first trial started, last trial finished), as the sweeps table records them."""
    if sweeps.empty:
        return {}
    return {str(r.sweep_id): (str(r.first_started or ""), str(r.last_finished or ""))
            for r in sweeps.itertuples(index=False)}


def _entry(task: str, study: Study, entry: Entry, ran: dict[str, tuple[str, str]]) -> dict[str, Any]:
    best, runs = entry.best, entry.trials
    capped = protocol.capped_metric(runs, study.scoring)
    mean, half = mean_ci(capped.tolist())
    return {
        "task": task, "workload": study.workload, "workload_key": study.workload_key,
        "headline": study.headline, "optimizer": entry.optimizer, "status": "ran",
        "protocol": study.protocol, "rank": entry.rank,
        "ranked_by": "held-out seeds" if study.held_out else "expected best at equal budget",
        "selection": {"metric": study.scoring.metric, "direction": study.scoring.direction,
                      "score": study.scoring.by, "time_measure": study.measure,
                      "rule": study.scoring.describe()},
        "configuration": {k: _plain(v) for k, v in protocol.hyperparameters(best["config_json"]).items()},
        "config_key": best["config_key"],
        "seeds": {"tune": entry.seeds["tune"], "report": entry.seeds["report"], "reported_on": len(runs)},
        "diverged": int((runs["status"] == "diverged").sum()),
        "no_progress": int((runs["status"] == "no_progress").sum()),
        "metric_mean": mean, "metric_ci95": half,
        "steps_to_target_median": float(np.median(runs["steps_to_target"].astype(float))),
        "seconds_to_target_median": float(np.median(runs["seconds_to_target"].astype(float))),
        "time_to_target_median": entry.reported["time_to_target"],
        "p_reach": entry.reported["p_reach"],
        "time_to_target_seeds": runs[study.measure].astype(float).tolist(),
        "budget": entry.budget,
        "expected_best_at_equal_budget": {"k": entry.expected["k"], "metric": entry.expected["metric"],
                                          "time_to_target": entry.expected["time_to_target"],
                                          "p_reach": entry.expected["p_reach"]},
        "lr_sensitivity": entry.lr_sensitivity, "stable_lr_decades": entry.stable_lr_decades,
        "hardware": study.hardware,
        "run_by": "submitter" if runs["result_source"].eq(protocol.SUBMITTED).any() else "suite",
        "provenance": {
            "sweep_ids": sorted(runs["sweep_id"].unique().tolist()),
            "seeds": sorted(int(x) for x in runs["seed"].dropna()),
            "ran": _span([ran[s] for s in runs["sweep_id"].unique() if s in ran]),
            "git_commits": sorted(runs["git_commit"].dropna().unique().tolist()),
            "torch": sorted(runs["torch_version"].dropna().unique().tolist()),
            "ray": sorted(runs["ray_version"].dropna().unique().tolist()),
            "regclip_bench": sorted(runs["regclip_bench_version"].dropna().unique().tolist()),
            "hardware": protocol.hardware(runs),
            **_plugin_provenance(runs)},
    }


def _plugin_provenance(runs: pd.DataFrame) -> dict[str, Any]:
    """A plug-in optimizer's origin, source hash and packages (nothing for a built-in)."""
    origins = sorted({o for o in runs["optimizer_origin"].dropna() if o != "built-in"})
    if not origins:
        return {}
    return {"optimizer_origin": origins, "optimizer_sha256": sorted(runs["optimizer_sha256"].dropna().unique()),
            "optimizer_packages": sorted(runs["optimizer_packages"].dropna().unique())}


def _span(spans: list[tuple[str, str]]) -> list[str] | None:
    """[earliest start, latest finish] of the sweeps an entry's trials came from (ISO times sort)."""
    starts, ends = [a for a, _ in spans if a], [b for _, b in spans if b]
    return [min(starts), max(ends)] if starts and ends else None


def _workload(task: str, study: Study) -> dict[str, Any]:
    return {"task": task, "workload": study.workload, "workload_key": study.workload_key,
            "headline": study.headline, "protocol": study.protocol, "ranked_on_held_out_seeds": study.held_out,
            "equal_budget_k": study.k, "time_measure": study.measure,
            "hardware": study.hardware, "optimizers": [e.optimizer for e in study.entries]}


# --- performance profile ------------------------------------------------------------------

def profile_scores(times: dict[str, dict[str, float]]) -> dict[str, float]:
    """times[workload][optimizer] = time to target (inf: missed) → integral of ρ over [1, R_MAX]."""
    optimizers = sorted({o for per_workload in times.values() for o in per_workload})
    taus = np.linspace(1.0, R_MAX, 301)
    ratios: dict[str, list[float]] = {o: [] for o in optimizers}
    for per_workload in times.values():
        fastest = min(per_workload.values())
        for o in optimizers:
            t = per_workload.get(o, math.inf)
            ratios[o].append(t / fastest if math.isfinite(t) and 0 < fastest < math.inf else math.inf)
    scores = {}
    for o, r in ratios.items():
        r = np.asarray(r)
        rho = np.array([(r <= tau).mean() for tau in taus]) if len(r) else np.zeros_like(taus)
        scores[o] = float(np.trapezoid(rho, taus) / (R_MAX - 1.0))
    return scores


def _ranks(scores: dict[str, float]) -> dict[str, int]:
    """1 + the number of optimizers with a strictly higher score: ties share a rank."""
    return {o: 1 + sum(other > s for other in scores.values()) for o, s in scores.items()}


def performance_profile(headline: list[Study], seed: int = 0) -> dict[str, Any]:
    timed = [s for s in headline if s.scoring.by == "time_to_target"]
    if not timed:
        return {"scores": {}, "rank": {}, "rank_ci95": {}, "workloads": []}
    # the held-out seeds' median time where the workload has them, else the expected best at equal budget
    times = {s.workload: {e.optimizer: (e.reported if s.held_out else e.expected)["time_to_target"]
                          for e in s.entries} for s in timed}
    scores = profile_scores(times)
    rng = np.random.default_rng(seed)
    resampled = {s.workload: (protocol.bootstrap_reported_times if s.held_out else protocol.bootstrap_expected_times)(
        s, rng, BOOTSTRAP) for s in timed}
    ranks: dict[str, list[int]] = {o: [] for o in scores}
    for b in range(BOOTSTRAP):
        sample = {w: {o: float(v[b]) for o, v in per.items()} for w, per in resampled.items()}
        for o, rank in _ranks(profile_scores(sample)).items():
            ranks[o].append(rank)
    return {"scores": scores, "rank": _ranks(scores),
            "rank_ci95": {o: [int(np.percentile(r, 2.5)), int(np.percentile(r, 97.5))] for o, r in ranks.items()},
            "r_max": R_MAX, "workloads": sorted(times),
            "time_measure": {s.workload: s.measure for s in timed},
            "hardware": {s.workload: s.hardware for s in timed}}


# --- pages --------------------------------------------------------------------------------

COLUMNS = ["task", "workload", "rank", "decided by", "optimizer", "metric", "mean ± 95% CI", "seeds",
           "E[best] at equal budget", "budget (configs / trials)", "LR sensitivity", "stable lr decades",
           "configuration", "provenance"]


def _row(entry: dict[str, Any]) -> dict[str, str]:
    plugin = " (plug-in, run by the suite)" if entry["provenance"].get("optimizer_origin") else ""
    return {"task": entry["task"], "workload": entry["workload"], "rank": str(entry["rank"]),
            "decided by": page.decisive(entry)[2],
            "optimizer": entry["optimizer"] + plugin, "metric": entry["selection"]["metric"],
            "mean ± 95% CI": f"{fmt(entry['metric_mean'])} ± {fmt(entry['metric_ci95'], 2)}",
            "seeds": f"{page.seed_words(entry['seeds'])} ({entry['diverged']} diverged, {entry['no_progress']} no progress)",
            **tuning_cells(entry["budget"], entry["expected_best_at_equal_budget"], entry["lr_sensitivity"],
                           entry["stable_lr_decades"]),
            "configuration": ", ".join(f"{k}={v}" for k, v in entry["configuration"].items()),
            "provenance": provenance_line(entry)}


def provenance_line(entry: dict[str, Any]) -> str:
    """Commit, versions, hardware, seeds and when it ran, in one line."""
    p = entry.get("provenance") or {}
    ran = p.get("ran")
    parts = [f"commit {page.commits(p) or 'unknown'}",
             f"torch {', '.join(p.get('torch', [])) or '?'}", f"Ray {', '.join(p.get('ray', [])) or '?'}",
             f"regclip-bench {', '.join(p.get('regclip_bench', [])) or '?'}",
             "; ".join(p.get("hardware", [])) or "hardware unknown",
             f"seeds {', '.join(map(str, p.get('seeds', [])))}",
             f"ran {ran[0][:16].replace('T', ' ')} to {ran[1][:16].replace('T', ' ')}" if ran else "run time unknown"]
    return "; ".join(parts)


PUBLISHED = Path(__file__).resolve().parents[2] / "results" / "leaderboard.json"   # in a source checkout


def published_board(path: Path = PUBLISHED) -> dict[str, Any] | None:
    """The leaderboard this version of the suite publishes (results/leaderboard.json), where it is there."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write(board: dict[str, Any], out: str | Path, reports: str | None = None,
          published: dict[str, Any] | None = None) -> list[Path]:
    """leaderboard.json, leaderboard.md and the page; `published`: a leaderboard to set the entries beside."""
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.json").write_text(json.dumps(strict_json(board), indent=1, allow_nan=False))
    ran = [e for e in board["entries"] if e["status"] == "ran"]
    headline_entries = [e for e in ran if e["headline"]]
    other_entries = [e for e in ran if not e["headline"]]
    not_yet_run = [e["task"] for e in board["entries"] if e["status"] != "ran"]
    headline = pd.DataFrame([_row(e) for e in headline_entries], columns=COLUMNS)
    others = pd.DataFrame([_row(e) for e in other_entries], columns=COLUMNS)
    profile = board["profile"]
    profile_table = pd.DataFrame([{"optimizer": o, "score": f"{s:.3f}", "rank": profile["rank"][o],
                                   "rank 95% CI": "–".join(map(str, profile["rank_ci95"][o]))}
                                  for o, s in sorted(profile["scores"].items(), key=lambda x: -x[1])])
    found = board.get("findings", [])
    main, more = [f for f in found if f["headline"]], [f for f in found if not f["headline"]]
    lines = ["# regclip-bench leaderboard", "", "## Findings", "",
             *([escape_markdown(line) for line in markdown_lines(main)] or ["No claim is supported yet."]), ""]
    if more:
        lines += ["### Findings on other workloads", "", *[escape_markdown(line) for line in markdown_lines(more)], ""]
    lines += ["## Headline workloads", "", markdown_table(headline), ""]
    if not_yet_run:
        lines += [f"Not yet run: {escape_markdown(', '.join(not_yet_run))}.", ""]
    if len(others):
        lines += ["## Other workloads", "", markdown_table(others), ""]
    submitted = board.get("submitted", [])
    if submitted:
        lines += ["## Submitted results (not run by the suite)", "", SUBMITTED_NOTE, "",
                  markdown_table(pd.DataFrame([_row(e) for e in submitted], columns=COLUMNS)), ""]
    if profile.get("scores"):
        lines += [f"## Performance profile (time to target, r_max = {R_MAX:g})", "",
                  f"Over: {escape_markdown(', '.join(profile['workloads']))}.", "", markdown_table(profile_table), ""]
    lines += ["## Rules", ""] + [f"- **{k}**: {escape_markdown(v)}" for k, v in board["rules"].items()]
    (out / "leaderboard.md").write_text("\n".join(lines) + "\n")

    pages = _report_pages(out, board["entries"]) if reports else {}
    page.write_leaderboard(board, out, pages, profile_table.to_dict("records"), SUBMITTED_NOTE, published)
    return [out / "leaderboard.json", out / "leaderboard.md", out / "index.html"]


SUBMITTED_NOTE = ("Results files added with `leaderboard --add`: checked, but not run by this suite, so not "
                  "comparable with the tables above; ranked among themselves. An optimizer is on the tables above "
                  "only when the suite ran it (`regclip-bench submit`).")


def _report_pages(out: Path, entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """task → its report page and, per workload, the figures of its section (from report.json)."""
    pages = {}
    for task in dict.fromkeys(e["task"] for e in entries):
        folder = inside(out, "reports", task)
        if not (folder / "report.html").exists():
            continue
        try:
            sections = json.loads((folder / "report.json").read_text()).get("sections", {})
        except (OSError, ValueError):
            sections = {}
        figures: dict[str, list[str]] = {}
        for name, section in sections.items() if isinstance(sections, dict) else ():
            figures.setdefault(str(section), []).append(str(name))
        pages[task] = {"page": f"reports/{task}/report.html", "figures": figures}
    return pages
