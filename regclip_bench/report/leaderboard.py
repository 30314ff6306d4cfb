"""The leaderboard: per workload × optimizer, the tuned best configuration, what it achieved and
how it ranks at equal tuning budget; across headline workloads an AlgoPerf-style performance
profile over times to target.

Every number is computed from the results store by `protocol`; tasks without runs are listed as
"not yet run", never filled in.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..results import load
from ..spec import task_names
from . import colors, protocol
from .protocol import Entry, Study
from ..summary import fmt
from .report import escape_markdown, markdown_table

LEADERBOARD_SCHEMA = 2
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
    entries: list[dict[str, Any]] = []
    found: list[tuple[str, Study]] = []
    for task in sorted(set(task_names()) | set(trials["task"].unique())):
        group = trials[trials["task"] == task]
        if group.empty:
            entries.append({"task": task, "status": "not yet run", "headline": True})
            continue
        for study in protocol.ordered(protocol.studies(protocol.distinct_trials(group)), task):
            found.append((task, study))
            entries += [_entry(task, study, e) for e in study.entries]
    order = {id(e): i for i, e in enumerate(entries)}
    entries.sort(key=lambda e: (not e["headline"], order[id(e)]))
    return {"schema": LEADERBOARD_SCHEMA, "entries": entries,
            "workloads": [_workload(task, s) for task, s in found],
            "profile": performance_profile([s for _, s in found if s.headline]),
            "rules": RULES}


RULES = {
    "workloads": "optimizers are compared only on the same workload (model, data, loss, budget, target); "
                 "a task's headline workloads come first",
    "selection": "per workload and optimizer, among that optimizer's configurations on it: the best mean "
                 "over seeds of the target metric capped at its initial value (lowest for a metric to "
                 "minimise, highest for one to maximise; a diverged or failed seed counts as its initial "
                 "value); for a time-to-target task, the fewest median steps to the target (seconds where "
                 "every trial ran on one GPU model), ties broken by that metric",
    "ci": "95% Student-t interval of the capped metric over the seeds of the chosen configuration",
    "equal_budget": "k = the fewest configurations any optimizer tried on the workload; each optimizer's "
                    "expected best of k configurations drawn without replacement from those it tried, by "
                    "exact order statistics (Dodge et al. 2019); the rank on a workload is by it",
    "lr_sensitivity": "over the learning rates tried with the other hyperparameters at the best "
                      "configuration's (at least 3, spanning at least a decade): the mean capped metric "
                      "minus the best (Wortsman et al. 2023); empty when there are fewer",
    "stable_lr_decades": "log10(largest / smallest of those learning rates whose median over seeds reaches "
                         "the target); 0 when one or none does",
    "profile": f"AlgoPerf-style over the headline workloads of time-to-target tasks: each optimizer's "
               f"expected time to target at equal budget divided by the fastest, ρ(τ) for τ in "
               f"[1, {R_MAX:g}], a possible miss counts as a failure; score = ∫ρ dτ / ({R_MAX:g} − 1)",
    "ranking_ci": f"{BOOTSTRAP} bootstrap resamples of the seeds of every configuration",
}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _entry(task: str, study: Study, entry: Entry) -> dict[str, Any]:
    best, runs = entry.best, entry.trials
    capped = protocol.capped_metric(runs, study.scoring)
    mean, half = mean_ci(capped.tolist())
    return {
        "task": task, "workload": study.workload, "workload_key": study.workload_key,
        "headline": study.headline, "optimizer": entry.optimizer, "status": "ran",
        "rank_at_equal_budget": entry.rank,
        "selection": {"metric": study.scoring.metric, "direction": study.scoring.direction,
                      "score": study.scoring.by, "time_measure": study.measure,
                      "rule": study.scoring.describe()},
        "configuration": {k: _plain(v) for k, v in protocol.hyperparameters(best["config_json"]).items()},
        "config_key": best["config_key"],
        "seeds": len(runs), "diverged": int((runs["status"] == "diverged").sum()),
        "no_progress": int((runs["status"] == "no_progress").sum()),
        "metric_mean": mean, "metric_ci95": half,
        "steps_to_target_median": float(np.median(runs["steps_to_target"].astype(float))),
        "seconds_to_target_median": float(np.median(runs["seconds_to_target"].astype(float))),
        "time_to_target_median": float(best["time"]),
        "time_to_target_seeds": runs[study.measure].astype(float).tolist(),
        "budget": entry.budget,
        "expected_best_at_equal_budget": {"k": entry.expected["k"], "metric": entry.expected["metric"],
                                          "time_to_target": entry.expected["time_to_target"],
                                          "p_reach": entry.expected["p_reach"]},
        "lr_sensitivity": entry.lr_sensitivity, "stable_lr_decades": entry.stable_lr_decades,
        "hardware": study.hardware,
        "provenance": {
            "sweep_ids": sorted(runs["sweep_id"].unique().tolist()),
            "git_commits": sorted(runs["git_commit"].dropna().unique().tolist()),
            "torch": sorted(runs["torch_version"].dropna().unique().tolist()),
            "ray": sorted(runs["ray_version"].dropna().unique().tolist()),
            "regclip_bench": sorted(runs["regclip_bench_version"].dropna().unique().tolist()),
            "hardware": sorted({str(g) if pd.notna(g) else str(c)
                                for g, c in zip(runs["gpu_model"], runs["cpu_model"])})},
    }


def _workload(task: str, study: Study) -> dict[str, Any]:
    return {"task": task, "workload": study.workload, "workload_key": study.workload_key,
            "headline": study.headline, "equal_budget_k": study.k, "time_measure": study.measure,
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
    times = {s.workload: {e.optimizer: e.expected["time_to_target"] for e in s.entries} for s in timed}
    scores = profile_scores(times)
    rng = np.random.default_rng(seed)
    resampled = {s.workload: protocol.bootstrap_expected_times(s, rng, BOOTSTRAP) for s in timed}
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

COLUMNS = ["task", "workload", "rank", "optimizer", "metric", "mean ± 95% CI", "seeds", "time to target",
           "E[best] at equal budget", "budget (configs / trials)", "LR sensitivity", "stable lr decades",
           "configuration"]


def _row(entry: dict[str, Any]) -> dict[str, str]:
    if entry["status"] != "ran":
        return dict.fromkeys(COLUMNS, "—") | {"task": entry["task"], "metric": "not yet run"}
    expected = entry["expected_best_at_equal_budget"]
    unit = "steps" if entry["selection"]["time_measure"] == "steps_to_target" else "s"
    time = fmt(entry["time_to_target_median"])
    return {"task": entry["task"], "workload": entry["workload"], "rank": str(entry["rank_at_equal_budget"]),
            "optimizer": entry["optimizer"], "metric": entry["selection"]["metric"],
            "mean ± 95% CI": f"{fmt(entry['metric_mean'])} ± {fmt(entry['metric_ci95'], 2)}",
            "seeds": f"{entry['seeds']} ({entry['diverged']} diverged, {entry['no_progress']} no progress)",
            "time to target": time if time in ("missed", "—") else f"{time} {unit}",
            "E[best] at equal budget": f"{fmt(expected['metric'])} (k={expected['k']})",
            "budget (configs / trials)": f"{entry['budget']['configurations']} / {entry['budget']['trials']}",
            "LR sensitivity": fmt(entry["lr_sensitivity"], 3),
            "stable lr decades": fmt(entry["stable_lr_decades"], 2),
            "configuration": ", ".join(f"{k}={v}" for k, v in entry["configuration"].items())}


def write(board: dict[str, Any], out: str | Path, reports: str | None = None) -> list[Path]:
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.json").write_text(json.dumps(board, indent=1, default=_plain))
    headline = pd.DataFrame([_row(e) for e in board["entries"] if e["headline"]], columns=COLUMNS)
    others = pd.DataFrame([_row(e) for e in board["entries"] if not e["headline"]], columns=COLUMNS)
    profile = board["profile"]
    profile_table = pd.DataFrame([{"optimizer": o, "score": f"{s:.3f}", "rank": profile["rank"][o],
                                   "rank 95% CI": "–".join(map(str, profile["rank_ci95"][o]))}
                                  for o, s in sorted(profile["scores"].items(), key=lambda x: -x[1])])
    lines = ["# regclip-bench leaderboard", "", "## Headline workloads", "", markdown_table(headline), ""]
    if len(others):
        lines += ["## Other workloads", "", markdown_table(others), ""]
    if profile.get("scores"):
        lines += [f"## Performance profile (time to target at equal budget, r_max = {R_MAX:g})", "",
                  f"Over: {escape_markdown(', '.join(profile['workloads']))}.", "", markdown_table(profile_table), ""]
    lines += ["## Rules", ""] + [f"- **{k}**: {escape_markdown(v)}" for k, v in board["rules"].items()]
    (out / "leaderboard.md").write_text("\n".join(lines) + "\n")

    links = {e["task"]: f"reports/{e['task']}/report.html" for e in board["entries"]
             if reports and (out / "reports" / e["task"] / "report.html").exists()}
    sections = [f"<h2>Headline workloads</h2>{_html_table('board', headline, links)}"]
    if len(others):
        sections.append(f"<details><summary>{len(others)} entries on other workloads</summary>"
                        f"{_html_table('others', others, links)}</details>")
    if profile.get("scores"):
        sections.append(f"<h2>Performance profile</h2><p>{html.escape(', '.join(profile['workloads']))}</p>"
                        + profile_table.to_html(index=False, border=0))
    sections.append("<h2>Rules</h2><ul>" + "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>"
                                                   for k, v in board["rules"].items()) + "</ul>")
    (out / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>regclip-bench leaderboard</title>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "th{cursor:pointer;background:#eee}td,th{padding:.3em .7em;border-bottom:1px solid #ddd}"
        ".sw{display:inline-block;width:.8em;height:.8em;margin-right:.4em;border-radius:2px}</style>"
        "</head><body><h1>regclip-bench leaderboard</h1><p>Click a column to sort.</p>"
        + "".join(sections) +
        "<script>document.querySelectorAll('table.sortable').forEach(table=>table.querySelectorAll('th')"
        ".forEach(th=>th.onclick=()=>{"
        "const i=+th.dataset.col,tb=table.tBodies[0],rows=[...tb.rows];"
        "const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';"
        "const key=r=>{const t=r.cells[i].innerText,n=parseFloat(t);return isNaN(n)?t:n};"
        "rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});"
        "rows.forEach(r=>tb.appendChild(r))}));"
        # index.html#sort=N (or #sort=N-desc) opens the headline table sorted: a link can carry a view.
        "const m=location.hash.match(/sort=(\\d+)(-desc)?/);"
        "if(m){const th=document.querySelector(`#board th[data-col='${m[1]}']`);"
        "if(th){th.click();if(m[2])th.click();}}</script></body></html>")
    return [out / "leaderboard.json", out / "leaderboard.md", out / "index.html"]


def _html_table(name: str, table: pd.DataFrame, links: dict[str, str]) -> str:
    head = "".join(f"<th data-col='{i}'>{html.escape(c)}</th>" for i, c in enumerate(table.columns))
    body = "".join("<tr>" + "".join(f"<td>{_cell(c, v, links)}</td>" for c, v in zip(table.columns, r)) + "</tr>"
                   for r in table.itertuples(index=False))
    return f"<table id='{name}' class='sortable'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(column: str, value: str, links: dict[str, str]) -> str:
    if column == "task" and value in links:
        return f"<a href='{html.escape(links[value], quote=True)}'>{html.escape(value)}</a>"
    if column == "optimizer" and value != "—":
        colour = colors.OPTIMIZER_COLORS.get(value, colors.OTHER)
        return f"<span class='sw' style='background:{colour}'></span>{html.escape(value)}"
    return html.escape(str(value))
