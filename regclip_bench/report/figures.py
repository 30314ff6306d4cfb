"""The report's figures, from store tables (pandas DataFrames) to matplotlib figures."""

from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PALETTE = "colorblind"
sns.set_theme(style="whitegrid", palette=PALETTE, context="notebook")


def _finite(series: pd.Series) -> pd.Series:
    return series.where(np.isfinite(series.astype(float)))


def curves(steps: pd.DataFrame, y: str, ylabel: str, title: str, log: bool = True) -> plt.Figure:
    """Mean over seeds with a 95% band, one line per optimizer (its best configuration)."""
    fig, ax = plt.subplots(figsize=(7, 4.2))
    data = steps.assign(**{y: _finite(steps[y])}).dropna(subset=[y])
    if log:
        data = data[data[y] > 0]
    sns.lineplot(data=data, x="step", y=y, hue="optimizer", errorbar=("ci", 95), ax=ax)
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="training step", ylabel=ylabel, title=title)
    fig.tight_layout()
    return fig


def regimes(steps: pd.DataFrame) -> plt.Figure:
    """h/η and the share of steps unclipped / clipped / at the δ floor, per clipping optimizer."""
    clipping = steps.dropna(subset=["clip_factor"])
    names = sorted(clipping["optimizer"].unique())
    fig, axes = plt.subplots(2, max(len(names), 1), figsize=(4.5 * max(len(names), 1), 6), squeeze=False,
                             sharex="col")
    colours = sns.color_palette(PALETTE, 3)
    for col, name in enumerate(names):
        data = clipping[clipping["optimizer"] == name]
        sns.lineplot(data=data, x="step", y="clip_factor", errorbar=("ci", 95), ax=axes[0, col])
        axes[0, col].set(yscale="log", ylabel="h / η", title=name, xlabel="")
        shares = data.groupby("step")[["frac_unclipped", "frac_clipped", "frac_floor"]].mean()
        axes[1, col].stackplot(shares.index, shares.T.values, colors=colours,
                               labels=["unclipped (h = η)", "clipped", "δ floor (h = ηδ)"])
        axes[1, col].set(xlabel="training step", ylabel="share of steps", ylim=(0, 1))
    if names:
        axes[1, 0].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig


def heatmaps(trials: pd.DataFrame, value: str, label: str) -> plt.Figure | None:
    """lr × γ of the median `value` over seeds, faceted by δ (columns) and width (rows)."""
    data = trials.dropna(subset=["gamma"])
    if data.empty or data["lr"].nunique() < 2 or data["gamma"].nunique() < 2:
        return None
    data = data.assign(delta=data["delta"].fillna(0.0), value=np.log10(_finite(data[value]).clip(lower=1e-12)))
    deltas, widths = sorted(data["delta"].unique()), sorted(data["width"].unique())
    fig, axes = plt.subplots(len(widths), len(deltas), figsize=(4 * len(deltas), 3.4 * len(widths)),
                             squeeze=False)
    for r, width in enumerate(widths):
        for c, delta in enumerate(deltas):
            cell = data[(data["width"] == width) & (data["delta"] == delta)]
            grid = cell.pivot_table(index="gamma", columns="lr", values="value", aggfunc="median")
            sns.heatmap(grid, ax=axes[r, c], cmap="viridis", annot=True, fmt=".1f",
                        cbar_kws={"label": f"log10 {label}"})
            axes[r, c].set(title=f"width {width}, δ = {delta:g}", xlabel="η (lr)", ylabel="γ")
    fig.tight_layout()
    return fig


def phase_diagrams(trials: pd.DataFrame, value: str, label: str) -> plt.Figure | None:
    """width × depth: the best (over lr, γ, δ) of the median over seeds, one panel per optimizer."""
    if trials["width"].nunique() < 2 and trials["depth"].nunique() < 2:
        return None
    names = sorted(trials["optimizer"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    keys = ["optimizer", "width", "depth", "lr", "gamma", "delta"]
    per_config = (trials.assign(v=trials[value].astype(float)).groupby(keys, dropna=False)["v"].median()
                  .reset_index())
    best = per_config.groupby(["optimizer", "width", "depth"])["v"].min().reset_index()
    for ax, name in zip(axes[0], names):
        grid = best[best["optimizer"] == name].pivot(index="depth", columns="width", values="v")
        shown = np.log10(grid.clip(lower=1e-12)) if value != "steps_to_target" else grid
        annot = grid.map(lambda v: "" if not math.isfinite(v) else f"{v:.3g}")
        with warnings.catch_warnings():  # every cell missed: an all-NaN colour scale is expected
            warnings.simplefilter("ignore", RuntimeWarning)
            sns.heatmap(shown.replace([np.inf, -np.inf], np.nan), ax=ax, cmap="magma_r", annot=annot,
                        fmt="", cbar_kws={"label": label if value == "steps_to_target" else f"log10 {label}"})
        for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not math.isfinite(v):  # heatmap leaves NaN cells blank: say what they are
                ax.text(c + 0.5, r + 0.5, "miss" if v == math.inf else "—", ha="center", va="center",
                        color="0.35")
        ax.set(title=name, xlabel="width (hidden units)", ylabel="depth (hidden layers)")
    fig.tight_layout()
    return fig


def distance_vs_width(trials: pd.DataFrame) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6, 4))
    data = trials.assign(d=_finite(trials["max_dist_from_init"])).dropna(subset=["d"])
    sns.lineplot(data=data, x="width", y="d", hue="optimizer", marker="o", errorbar=("ci", 95), ax=ax)
    ax.set(xscale="log", yscale="log", xlabel="width (hidden units)", ylabel="max ‖w − w₀‖",
           title="Distance travelled from initialisation")
    fig.tight_layout()
    return fig
