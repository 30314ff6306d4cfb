"""The leaderboard: per task × optimizer, the tuned best configuration and what it achieved,
and across tasks an AlgoPerf-style performance profile over time-to-target ratios.

Everything here is computed from the results store; tasks without runs are listed as
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
from .report import CONFIG_KEYS, Selection, best_configs, config_id, markdown_table

LEADERBOARD_SCHEMA = 1
R_MAX = 4.0
SENSITIVITY_MARGIN = 0.10   # a grid point counts as "near the best" within 10% of its value
BOOTSTRAP = 1000


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% Student-t interval (NaN half-width for one value)."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    if len(x) == 1:
        return float(x[0]), math.nan
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x))
    return float(x.mean()), float(half)


def _near_best(scores: pd.Series, best: float, direction: str) -> float:
    finite = scores[np.isfinite(scores)]
    if not len(scores) or not math.isfinite(best):
        return math.nan
    bound = abs(best) * SENSITIVITY_MARGIN
    near = finite <= best + bound if direction == "min" else finite >= best - bound
    return float(near.sum() / len(scores))


def compute(store: str) -> dict[str, Any]:
    trials = load(store, "trials")
    entries: list[dict[str, Any]] = []
    for task in sorted(set(task_names()) | set(trials["task"].unique())):
        group = trials[trials["task"] == task]
        if group.empty:
            entries.append({"task": task, "status": "not yet run"})
            continue
        selection = Selection.for_task(task)
        best = best_configs(group, selection)
        group = group.assign(config=config_id(group))
        worst = math.inf if selection.direction == "min" else -math.inf
        scores = (group.assign(score=group[selection.column].astype(float)
                               .where(group["status"].isin(["completed", "stopped"]), worst).fillna(worst))
                  .groupby(["optimizer", "config"])["score"].mean())
        for _, pick in best.iterrows():
            optimizer = pick["optimizer"]
            runs = group[(group["optimizer"] == optimizer) & (group["config"] == pick["config"])]
            ok = runs[runs["status"] == "completed"]
            mean, half = mean_ci(ok[selection.column].astype(float).dropna().tolist())
            first = runs.iloc[0]
            all_runs = group[group["optimizer"] == optimizer]
            entries.append({
                "task": task, "optimizer": optimizer, "status": "ran",
                "selection": {"metric": selection.column, "direction": selection.direction},
                "configuration": {k: _plain(first[k]) for k in CONFIG_KEYS[1:] if pd.notna(first[k])},
                "seeds": len(runs), "diverged": int((runs["status"] == "diverged").sum()),
                "metric_mean": mean, "metric_ci95": half,
                "steps_to_target_median": float(np.median(runs["steps_to_target"].astype(float))),
                "seconds_to_target_median": float(np.median(runs["seconds_to_target"].astype(float))),
                "seconds_to_target_seeds": runs["seconds_to_target"].astype(float).tolist(),
                "budget": {"trials": len(all_runs), "configurations": int(all_runs["config"].nunique()),
                           "train_seconds": float(all_runs["train_time_s"].astype(float).sum())},
                "sensitivity": _near_best(scores.loc[optimizer], float(pick["score"]), selection.direction),
                "provenance": {
                    "sweep_ids": sorted(runs["sweep_id"].unique().tolist()),
                    "git_commits": sorted(runs["git_commit"].dropna().unique().tolist()),
                    "torch": sorted(runs["torch_version"].dropna().unique().tolist()),
                    "ray": sorted(runs["ray_version"].dropna().unique().tolist()),
                    "regclip_bench": sorted(runs["regclip_bench_version"].dropna().unique().tolist()),
                    "hardware": sorted({str(g) if pd.notna(g) else str(c)
                                        for g, c in zip(runs["gpu_model"], runs["cpu_model"])})},
            })
    profile = performance_profile(entries)
    return {"schema": LEADERBOARD_SCHEMA, "entries": entries, "profile": profile,
            "rules": {"selection": "per task and optimizer, " + Selection("<target metric>", "min/max").describe(),
                      "ci": "95% Student-t interval over the completed seeds of the chosen configuration",
                      "sensitivity": f"share of the optimizer's configurations whose mean is within "
                                     f"{SENSITIVITY_MARGIN:.0%} of the best",
                      "profile": f"AlgoPerf-style: ratio of each optimizer's median time to target to the "
                                 f"fastest on the task, ρ(τ) for τ in [1, {R_MAX:g}], a miss counts as a "
                                 f"failure; score = ∫ρ dτ / ({R_MAX:g} − 1)",
                      "ranking_ci": f"{BOOTSTRAP} bootstrap resamples of the seeds of each chosen configuration"}}


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def profile_scores(times: dict[str, dict[str, float]]) -> dict[str, float]:
    """times[task][optimizer] = time to target (inf: missed) → integral of ρ over [1, R_MAX]."""
    optimizers = sorted({o for per_task in times.values() for o in per_task})
    taus = np.linspace(1.0, R_MAX, 301)
    ratios: dict[str, list[float]] = {o: [] for o in optimizers}
    for per_task in times.values():
        fastest = min(per_task.values())
        for o in optimizers:
            t = per_task.get(o, math.inf)
            ratios[o].append(t / fastest if math.isfinite(t) and math.isfinite(fastest) else math.inf)
    scores = {}
    for o, r in ratios.items():
        r = np.asarray(r)
        rho = np.array([(r <= tau).mean() for tau in taus]) if len(r) else np.zeros_like(taus)
        scores[o] = float(np.trapezoid(rho, taus) / (R_MAX - 1.0))
    return scores


def _ranks(scores: dict[str, float]) -> dict[str, int]:
    """1 + the number of optimizers with a strictly higher score: ties share a rank."""
    return {o: 1 + sum(other > s for other in scores.values()) for o, s in scores.items()}


def performance_profile(entries: list[dict[str, Any]], seed: int = 0) -> dict[str, Any]:
    ran = [e for e in entries if e["status"] == "ran"]
    times: dict[str, dict[str, float]] = {}
    for e in ran:
        times.setdefault(e["task"], {})[e["optimizer"]] = e["seconds_to_target_median"]
    if not times:
        return {"scores": {}, "rank_ci95": {}}
    scores = profile_scores(times)
    rng = np.random.default_rng(seed)
    ranks: dict[str, list[int]] = {o: [] for o in scores}
    for _ in range(BOOTSTRAP):
        sample = {task: {} for task in times}
        for e in ran:
            seeds = np.asarray(e["seconds_to_target_seeds"], dtype=float)
            sample[e["task"]][e["optimizer"]] = float(np.median(rng.choice(seeds, size=len(seeds))))
        s = profile_scores(sample)
        for o, rank in _ranks(s).items():
            ranks[o].append(rank)
    return {"scores": scores, "rank": _ranks(scores),
            "rank_ci95": {o: [int(np.percentile(r, 2.5)), int(np.percentile(r, 97.5))] for o, r in ranks.items()},
            "r_max": R_MAX, "tasks": sorted(times)}


def write(board: dict[str, Any], out: str | Path, reports: str | None = None) -> list[Path]:
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.json").write_text(json.dumps(board, indent=1, default=_json))
    rows = [_row(e) for e in board["entries"]]
    table = pd.DataFrame(rows)
    profile = board["profile"]
    lines = ["# regclip-bench leaderboard", "", markdown_table(table), ""]
    if profile.get("scores"):
        lines += ["## Performance profile (time to target, r_max = 4)", "",
                  markdown_table(pd.DataFrame([{"optimizer": o, "score": f"{s:.3f}", "rank": profile["rank"][o],
                                                "rank 95% CI": "–".join(map(str, profile["rank_ci95"][o]))}
                                               for o, s in sorted(profile["scores"].items(), key=lambda x: -x[1])])),
                  ""]
    lines += ["## Rules", ""] + [f"- **{k}**: {v}" for k, v in board["rules"].items()]
    (out / "leaderboard.md").write_text("\n".join(lines) + "\n")
    links = {e["task"]: f"reports/{e['task']}/report.html" for e in board["entries"]
             if reports and (out / "reports" / e["task"] / "report.html").exists()}
    head = "".join(f"<th data-col='{i}'>{html.escape(c)}</th>" for i, c in enumerate(table.columns))
    body = "".join("<tr>" + "".join(
        f"<td>{_cell(c, v, links)}</td>" for c, v in zip(table.columns, r)) + "</tr>"
        for r in table.itertuples(index=False))
    (out / "index.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>regclip-bench leaderboard</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "th{cursor:pointer;background:#eee}td,th{padding:.3em .7em;border-bottom:1px solid #ddd}</style>"
        "</head><body><h1>regclip-bench leaderboard</h1><p>Click a column to sort.</p>"
        f"<table id='board'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        "<script>document.querySelectorAll('#board th').forEach(th=>th.onclick=()=>{"
        "const i=+th.dataset.col,tb=document.querySelector('#board tbody'),rows=[...tb.rows];"
        "const asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';"
        "const key=r=>{const t=r.cells[i].innerText,n=parseFloat(t);return isNaN(n)?t:n};"
        "rows.sort((a,b)=>{const x=key(a),y=key(b);return (x>y?1:x<y?-1:0)*(asc?1:-1)});"
        "rows.forEach(r=>tb.appendChild(r))});"
        # index.html#sort=N (or #sort=N-desc) opens the page sorted: a link can carry a view.
        "const m=location.hash.match(/sort=(\\d+)(-desc)?/);"
        "if(m){const th=document.querySelector(`#board th[data-col='${m[1]}']`);"
        "if(th){th.click();if(m[2])th.click();}}</script></body></html>")
    return [out / "leaderboard.json", out / "leaderboard.md", out / "index.html"]


def _json(value: Any) -> Any:
    return _plain(value)


def _fmt(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and math.isinf(value):
        return "missed"
    return f"{value:.{digits}g}"


def _row(entry: dict[str, Any]) -> dict[str, str]:
    if entry["status"] != "ran":
        return {"task": entry["task"], "optimizer": "—", "metric": "not yet run", "mean ± 95% CI": "—",
                "seeds": "—", "steps to target": "—", "seconds to target": "—", "budget (trials)": "—",
                "sensitivity": "—", "configuration": "—"}
    return {"task": entry["task"], "optimizer": entry["optimizer"], "metric": entry["selection"]["metric"],
            "mean ± 95% CI": f"{_fmt(entry['metric_mean'])} ± {_fmt(entry['metric_ci95'], 2)}",
            "seeds": f"{entry['seeds']} ({entry['diverged']} diverged)",
            "steps to target": _fmt(entry["steps_to_target_median"]),
            "seconds to target": _fmt(entry["seconds_to_target_median"], 3),
            "budget (trials)": str(entry["budget"]["trials"]),
            "sensitivity": _fmt(entry["sensitivity"], 2),
            "configuration": ", ".join(f"{k}={v}" for k, v in entry["configuration"].items())}


def _cell(column: str, value: str, links: dict[str, str]) -> str:
    if column == "task" and value in links:
        return f"<a href='{links[value]}'>{html.escape(value)}</a>"
    return html.escape(str(value))
