"""`regclip-bench report`: figures, a Markdown page and a self-contained HTML page per task."""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..results import load
from ..errors import ConfigError
from ..spec import load_task
from . import figures

CONFIG_KEYS = ["optimizer", "width", "depth", "lr", "gamma", "delta", "weight_decay", "momentum"]


@dataclass
class Selection:
    """How a task's best configuration per optimizer is chosen (the leaderboard uses it too)."""
    column: str
    direction: str  # "min" or "max"

    @staticmethod
    def for_task(task: str) -> "Selection":
        try:
            target = load_task(task).target
        except ConfigError:  # a task not shipped with this version: fall back to the training loss
            return Selection("final_loss", "min")
        column = "final_loss" if target.metric == "train_loss" else f"final_{target.metric}"
        return Selection(column, target.direction)

    def describe(self) -> str:
        return (f"the configuration (all hyperparameters but the seed) whose mean {self.column} over seeds "
                f"is {'lowest' if self.direction == 'min' else 'highest'}; a diverged seed counts as the "
                "worst possible value")


def config_id(trials: pd.DataFrame) -> pd.Series:
    present = [k for k in CONFIG_KEYS if k in trials]
    return trials[present].astype(object).map(str).agg("|".join, axis=1)


def best_configs(trials: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    """One row per optimizer: its best configuration's id and score."""
    worst = math.inf if selection.direction == "min" else -math.inf
    scored = trials.assign(config=config_id(trials),
                           score=trials[selection.column].astype(float).where(
                               trials["status"].isin(["completed", "stopped"]), worst).fillna(worst))
    means = scored.groupby(["optimizer", "config"])["score"].mean().reset_index()
    pick = means.loc[means.groupby("optimizer")["score"].idxmin() if selection.direction == "min"
                     else means.groupby("optimizer")["score"].idxmax()]
    return pick.reset_index(drop=True)


def build_report(store: str, out: str | Path, task: str | None = None) -> list[Path]:
    """Write report(s) for `task` (or every task in the store) under `out`; return the HTML paths."""
    out = Path(out).expanduser()
    trials_all = load(store, "trials", {"task": task} if task else None)
    tasks = sorted(trials_all["task"].unique()) if task is None else [task]
    pages = []
    for name in tasks:
        trials = trials_all[trials_all["task"] == name]
        if trials.empty:
            continue
        pages.append(_task_report(store, name, trials, out / name))
    return pages


def _task_report(store: str, task: str, trials: pd.DataFrame, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    selection = Selection.for_task(task)
    best = best_configs(trials, selection)
    trials = trials.assign(config=config_id(trials))
    chosen = trials[trials["config"].isin(best["config"])]
    steps = load(store, "steps", {"task": task, "trial_id": list(chosen["trial_id"])})
    steps = steps.merge(chosen[["trial_id", "optimizer"]], on="trial_id")

    made: list[tuple[str, str, Path]] = []

    def save(fig, name: str, caption: str) -> None:
        if fig is None:
            return
        path = out / f"{name}.png"
        fig.savefig(path, dpi=110)
        figures.plt.close(fig)
        made.append((name, caption, path))

    save(figures.curves(steps, "loss", "training loss", "Training loss, best configuration per optimizer"),
         "loss", "Training loss of each optimizer's best configuration: mean over seeds, 95% band.")
    evals = load(store, "evals", {"task": task, "trial_id": list(chosen["trial_id"])})
    evals = evals.merge(chosen[["trial_id", "optimizer"]], on="trial_id")
    metric = next((m for m in ("test_accuracy", "test_elbo", "test_loss") if evals[m].notna().any()), None)
    if metric is not None and evals["step"].nunique() > 1:
        label = {"test_accuracy": "test accuracy", "test_elbo": "test ELBO per example",
                 "test_loss": "test loss"}[metric]
        save(figures.curves(evals, metric, label, f"{label.capitalize()}, best configuration per optimizer",
                            log=metric == "test_loss"),
             "test_metric", f"{label.capitalize()} at each evaluation: mean over seeds, 95% band.")
    if steps["clip_factor"].notna().any():
        save(figures.regimes(steps), "regimes",
             "h/η over training and the share of steps unclipped, clipped, or at the δ floor.")
    save(figures.curves(steps, "pl_ratio", "‖∇L‖² / L", "PL ratio"), "pl_ratio",
         "The PL ratio ‖∇L‖²/L: bounded away from zero in the theorem's regime.")
    save(figures.heatmaps(trials, "final_loss", "final loss"), "heatmap_lr_gamma",
         "Median final training loss over seeds on the lr × γ grid, by δ and width.")
    save(figures.phase_diagrams(trials, "final_loss", "final loss"), "phase_final_loss",
         "Width × depth: final training loss (best hyperparameters per cell).")
    save(figures.phase_diagrams(trials, "steps_to_target", "steps to target"), "phase_steps_to_target",
         "Width × depth: steps to the task's target (best hyperparameters per cell; miss = never reached).")
    save(figures.distance_vs_width(trials), "distance_vs_width",
         "Largest ‖w − w₀‖ against width: the theorem keeps the weights in a ball around w₀.")

    table = _summary_table(trials, best, selection)
    markdown = [f"# {task}", "", f"{len(trials)} trials from {trials['sweep_id'].nunique()} sweep(s).",
                f"Best configuration: {selection.describe()}.", "", markdown_table(table), ""]
    for name, caption, path in made:
        markdown += [f"![{name}]({path.name})", "", caption, ""]
    (out / "report.md").write_text("\n".join(markdown))

    body = [f"<h1>{html.escape(task)}</h1>",
            f"<p>{len(trials)} trials from {trials['sweep_id'].nunique()} sweep(s). Best configuration: "
            f"{html.escape(selection.describe())}.</p>", table.to_html(index=False, border=0)]
    for name, caption, path in made:
        data = base64.b64encode(path.read_bytes()).decode()
        body.append(f'<figure><img alt="{name}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    page = out / "report.html"
    page.write_text("<!doctype html><html><head><meta charset='utf-8'>"
                    f"<title>{html.escape(task)} — regclip-bench</title><style>"
                    "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
                    "img{max-width:100%}table{border-collapse:collapse}td,th{padding:.25em .6em;"
                    "border-bottom:1px solid #ddd;text-align:right}</style></head><body>"
                    + "\n".join(body) + "</body></html>")
    (out / "report.json").write_text(json.dumps({"task": task, "selection": selection.describe(),
                                                 "figures": [n for n, _, _ in made]}, indent=1))
    return page


def markdown_table(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def _summary_table(trials: pd.DataFrame, best: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    rows = []
    for _, pick in best.iterrows():
        group = trials[trials["config"] == pick["config"]]
        first = group.iloc[0]
        reached = group["steps_to_target"][group["steps_to_target"] < math.inf]
        rows.append({"optimizer": pick["optimizer"],
                     "configuration": ", ".join(f"{k}={first[k]}" for k in CONFIG_KEYS[1:]
                                                if k in first and pd.notna(first[k])),
                     "seeds": len(group), selection.column: f"{group[selection.column].astype(float).mean():.4g}",
                     "diverged": int((group["status"] == "diverged").sum()),
                     "median steps to target": f"{reached.median():.0f}" if len(reached) else "missed",
                     "unclipped share": f"{group['frac_unclipped'].mean():.2f}"
                     if group["frac_unclipped"].notna().any() else "—"})
    return pd.DataFrame(rows)


__all__ = ["Selection", "best_configs", "build_report"]
