"""`regclip-bench report`: figures, a Markdown page and a self-contained HTML page per task.

Every comparison is made within a workload (`protocol.study`); the task's headline workloads
get the full set of figures, every other workload its tunability and LR-sensitivity figures.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from ..kinds import METRICS
from ..results import load
from ..storage import inside
from . import colors, figures, protocol
from .page import ENV, metric_label as describe_metric
from ..summary import fmt
from .protocol import Study

def log_scale(metric: str) -> bool:
    """Losses and risks fall over decades; an accuracy lies in [0, 1]."""
    return not metric.endswith("accuracy")


def build_report(store: str, out: str | Path, task: str | None = None) -> list[Path]:
    """Write report(s) for `task` (or every task in the store) under `out`; return the HTML paths."""
    out = Path(out).expanduser()
    colors.use(load(store, "trials")["optimizer"].unique())
    trials_all = protocol.by_source(load(store, "trials", {"task": task} if task else None))[0]   # the suite's
    tasks = sorted(trials_all["task"].unique()) if task is None else [task]
    modes = protocol.sweep_modes(load(store, "sweeps"))
    pages = []
    for name in tasks:
        trials = trials_all[trials_all["task"] == name]
        if not trials.empty:
            pages.append(_task_report(store, name, trials, modes, inside(out, name)))
    return pages


def _task_report(store: str, task: str, trials: pd.DataFrame, modes: dict[str, str], out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    found = protocol.ordered(protocol.studies(trials, modes), task)
    scoring = found[0].scoring
    # In full: the headline workloads, or every workload when the store has none of them.
    headline = [s for s in found if s.headline] or found
    metric_label = describe_metric(scoring.metric)
    made: list[tuple[str, str, str, Path]] = []   # section, name, caption, path

    def save(fig, section: str, name: str, caption: str) -> None:
        if fig is None:
            return
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        figures.plt.close(fig)
        made.append((section, name, caption, path))

    chosen = pd.concat([e.trials.assign(workload_key=s.workload_key) for s in headline for e in s.entries])
    ids = list(chosen["trial_id"])
    steps = load(store, "steps", {"task": task, "trial_id": ids}).merge(
        chosen[["trial_id", "optimizer", "workload_key"]], on="trial_id")
    evals = load(store, "evals", {"task": task, "trial_id": ids}).merge(
        chosen[["trial_id", "optimizer", "workload_key"]], on="trial_id")
    for i, study in enumerate(found):
        section, tag = study.workload, f"w{i}"
        if study in headline:
            mine, mine_evals = steps[steps["workload_key"] == study.workload_key], evals[evals["workload_key"] == study.workload_key]
            save(figures.curves(mine, "loss", "training loss", f"{section}: training loss"), section,
                 f"loss-{tag}", "Training loss of each optimizer's best configuration: mean over seeds, 95% band.")
            # the evaluation metric the task is scored by, else the first its kind reports
            metric = next((m for m in (scoring.metric.removeprefix("final_"), *METRICS)
                           if m in mine_evals and mine_evals[m].notna().any()), None)
            if metric is not None and mine_evals["step"].nunique() > 1:
                name = describe_metric(metric)
                save(figures.curves(mine_evals, metric, name, f"{section}: {name}", log=log_scale(metric)),
                     section, f"test_metric-{tag}", f"{name.capitalize()} at each evaluation (step 0: at w₀).")
            if mine["clip_factor"].notna().any():
                save(figures.regimes(mine, section), section, f"regimes-{tag}",
                     "h/η over training and the share of steps unclipped, clipped, or at the δ floor.")
            save(figures.curves(mine, "pl_ratio", "‖∇L‖² / L", f"{section}: PL ratio"), section, f"pl_ratio-{tag}",
                 "The PL ratio ‖∇L‖²/L: bounded away from zero in the theorem's regime.")
            if mine["sharpness"].notna().any():
                save(figures.sharpness(_lr_scan_steps(store, task, study), section), section, f"sharpness-{tag}",
                     "Top Hessian eigenvalue (power iteration on the batch) of each optimizer's learning-rate "
                     "scan, the other hyperparameters at its best; dashed 2/η, dotted 2/(ηδ), the limits above "
                     "which a quadratic with that curvature diverges under steps η and ηδ.")
        time_based = study.scoring.by == "time_to_target"
        save(figures.tunability({e.optimizer: protocol.expected_curve(e.configs) for e in study.entries},
                                metric_label, time_based, f"{section}: tunability"),
             section, f"tunability-{tag}",
             "Expected best of k configurations drawn with replacement from those each optimizer tried "
             "(Dodge et al. 2019's estimator); the leaderboard ranks by the expected best of "
             f"k = {study.k}, the smallest budget here, drawn without replacement (exact order statistics).")
        save(figures.lr_sensitivity(protocol.lr_points(study), metric_label, log_scale(scoring.metric),
                                    f"{section}: learning-rate sensitivity"),
             section, f"lr-{tag}",
             "Capped final metric against η, the other hyperparameters at each optimizer's best: mean over "
             "seeds, 95% band; ✕ diverged, □ no progress.")

    best = protocol.best_trials(found)
    sweep_wide = "across workloads"
    for value, label, name, log in (("metric", metric_label, "phase_metric", scoring.direction == "min"),
                                    ("time", "steps to target", "phase_steps_to_target", False)):
        save(figures.phase_diagrams(protocol.phase_table(found, value), value, label, log), sweep_wide, name,
             f"Width × depth: {label} of each optimizer's best configuration per workload "
             "(miss = target never reached).")
    save(figures.heatmaps(trials[trials["workload_key"].isin([s.workload_key for s in headline])],
                          scoring.metric, metric_label), sweep_wide, "heatmap_lr_gamma",
         f"Median {metric_label} over seeds on the lr × γ grid of the headline workloads, by optimizer and δ.")
    save(figures.relative_distance_vs_width(best), "theory", "relative_distance_vs_width",
         "Largest ‖w − w₀‖/‖w₀‖ of the best configuration per workload against width: the theorem keeps the "
         "weights in a ball around w₀ whose relative radius shrinks as the width grows.")

    table = summary_table(found)
    rates = rates_table(headline)
    intro = (f"{len(trials)} trials from {trials['sweep_id'].nunique()} sweep(s), {len(found)} workload(s). "
             f"Best configuration: {scoring.describe()}.")
    markdown = [f"# {escape_markdown(task)}", "", escape_markdown(intro), "", markdown_table(table), ""]
    sections = []
    for section in dict.fromkeys(s for s, *_ in made):
        heading = {"theory": "Theory checks", sweep_wide: "Across workloads"}.get(section, f"Workload {section}")
        markdown += [f"## {escape_markdown(heading)}", ""]
        shown = {"id": section, "heading": heading, "table": None, "figures": []}
        if section == "theory" and not rates.empty:
            markdown += [markdown_table(rates), ""]
            shown["table"] = rates.to_html(index=False, border=0)
        for _, name, caption, path in (m for m in made if m[0] == section):
            markdown += [f"![{name}]({path.name})", "", escape_markdown(caption), ""]
            shown["figures"].append({"alt": caption, "caption": caption,
                                     "data": base64.b64encode(path.read_bytes()).decode()})
        sections.append(shown)
    (out / "report.md").write_text("\n".join(markdown))
    page = out / "report.html"
    page.write_text(ENV.get_template("report.html.j2").render(
        task=task, intro=intro, table=table.to_html(index=False, border=0), sections=sections))
    (out / "report.json").write_text(json.dumps({
        "task": task, "selection": scoring.describe(),
        "workloads": [{"workload": s.workload, "workload_key": s.workload_key, "headline": s.headline}
                      for s in found],
        "figures": [n for _, n, _, _ in made],
        "sections": {n: s for s, n, _, _ in made}}, indent=1))
    return page


def _lr_scan_steps(store: str, task: str, study) -> pd.DataFrame:
    """The logged steps of every trial in each optimizer's learning-rate scan, with its η."""
    scanned = study.trials[study.trials["config_key"].isin(
        [k for e in study.entries for k in e.scan["config_key"]])][["trial_id", "optimizer", "lr"]]
    steps = load(store, "steps", {"task": task, "trial_id": list(scanned["trial_id"])})
    return steps.merge(scanned.rename(columns={"lr": "lr_config"}).astype({"lr_config": float}), on="trial_id")


def summary_table(found: list[Study]) -> pd.DataFrame:
    rows = []
    for study in found:
        for entry in study.entries:
            best = entry.best
            rows.append({
                "workload": study.workload + (" ★" if study.headline else ""), "rank": entry.rank,
                "optimizer": entry.optimizer,
                "configuration": protocol.describe_configuration(best["config_json"]),
                "seeds": int(best["seeds"]), "metric (capped mean)": fmt(float(best["metric"])),
                "median time to target": fmt(float(best["time"])),
                **tuning_cells(entry.budget, entry.expected, entry.lr_sensitivity, entry.stable_lr_decades),
                "steps clipped / at δ floor": _regime_shares(entry.trials)})
    return pd.DataFrame(rows)


def tuning_cells(budget: dict, expected: dict, lr_sensitivity: float, stable_lr_decades: float) -> dict[str, str]:
    """What an entry's tuning cost: the report's and the leaderboard's cells (with the chance that the
    best of k reaches the target, where it can miss: it ranks entries whose expected times are infinite)."""
    reach = f", P(reach) {expected['p_reach']:.2f}" if expected["p_reach"] < 1 else ""
    return {"budget (configs / trials)": f"{budget['configurations']} / {budget['trials']}",
            "E[best] at equal budget": f"{fmt(expected['metric'])} (k={expected['k']}{reach})",
            "LR sensitivity": fmt(lr_sensitivity, 3), "stable lr decades": fmt(stable_lr_decades, 2)}


def _regime_shares(trials: pd.DataFrame) -> str:
    """The mean share of the chosen configuration's steps that were clipped and at the floor."""
    if "frac_clipped" not in trials or trials["frac_clipped"].isna().all():
        return "—"
    clipped, floor = trials["frac_clipped"].astype(float).mean(), trials["frac_floor"].astype(float).mean()
    return f"{clipped:.1%} / {floor:.1%}"


def rates_table(found: list[Study]) -> pd.DataFrame:
    """The geometric rate of the loss, over the whole run and its second half, with each fit's R²."""
    rows = []
    for study in found:
        for entry in study.entries:
            t = entry.trials
            rows.append({"workload": study.workload, "optimizer": entry.optimizer,
                         "loss rate (all)": fmt(float(t["loss_rate"].mean())),
                         "R² (all)": fmt(float(t["loss_rate_r2"].mean()), 3),
                         "loss rate (2nd half)": fmt(float(t["loss_rate_second_half"].mean())),
                         "R² (2nd half)": fmt(float(t["loss_rate_second_half_r2"].mean()), 3),
                         "min PL ratio": fmt(float(t["min_pl_ratio"].mean()), 3),
                         "final PL ratio": fmt(float(t["final_pl_ratio"].mean()), 3),
                         "max ‖w−w₀‖/‖w₀‖": fmt(float(t["max_rel_dist_from_init"].mean()), 3)})
    return pd.DataFrame(rows)


def escape_markdown(text: str) -> str:
    """Text safe inside Markdown (and a table cell): HTML escaped, `|` and line breaks neutralised."""
    return html.escape(str(text), quote=False).replace("|", "&#124;").replace("\r", " ").replace("\n", " ")


def markdown_table(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(escape_markdown(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(escape_markdown(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


__all__ = ["build_report", "escape_markdown", "markdown_table", "tuning_cells"]
