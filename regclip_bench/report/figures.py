"""The report's figures, from store tables (pandas DataFrames) to matplotlib figures.

Every line or point coloured by optimizer takes its colour from `colors.of` (the registry's, extended)
and its place in the legend from `colors.order`.
"""

from __future__ import annotations

import math
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import colors  # noqa: E402

sns.set_theme(style="whitegrid", context="notebook")
REGIME_COLORS = ("#E6E6E6", "#999999", "#404040")   # unclipped, clipped, δ floor: greys, no optimizer's colour


def _band(values: pd.Series, resamples: int = 1000, level: float = 95) -> tuple[float, float]:
    """seaborn's errorbar=("ci", 95) with seed=0, the same numbers (a percentile bootstrap of the mean, seeded:
    the same store draws the same figure), in one array operation: seaborn's loop over resamples took 99 %
    of a report's time (5 minutes for the VAE's, whose curves have ≈ 13,000 points).  In blocks of ≈ 4 M
    draws, in seaborn's order, so that a point with many values (a large submission) needs no more memory."""
    x, rng = values.to_numpy(dtype=float), np.random.default_rng(0)
    rows = max(1, 2 ** 22 // len(x))
    means = np.concatenate([np.nanmean(x[rng.integers(0, len(x), (min(rows, resamples - i), len(x)), dtype=np.intp)],
                                       axis=1) for i in range(0, resamples, rows)])
    return tuple(np.nanpercentile(means, (50 - level / 2, 50 + level / 2)))


def _finite(series: pd.Series) -> pd.Series:
    return series.where(np.isfinite(series.astype(float)))


def _title(ax, text: str) -> None:
    """Workload labels can be long: wrapped, and smaller than matplotlib's default."""
    ax.set_title("\n".join(textwrap.wrap(text, 70)), fontsize="medium")


def _hue(data: pd.DataFrame) -> dict:
    names = data["optimizer"].unique()
    return {"hue": "optimizer", "hue_order": colors.order(names), "palette": colors.palette(names)}


def curves(steps: pd.DataFrame, y: str, ylabel: str, title: str, log: bool = True) -> plt.Figure | None:
    """Mean over seeds with a 95% band, one line per optimizer (its best configuration)."""
    data = steps.assign(**{y: _finite(steps[y])}).dropna(subset=[y])
    if log:
        data = data[data[y] > 0]
    if data.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.lineplot(data=data, x="step", y=y, errorbar=_band, ax=ax, **_hue(data))
    if log:
        ax.set_yscale("log")
    ax.set(xlabel="training step", ylabel=ylabel)
    _title(ax, title)
    fig.tight_layout()
    return fig


def regimes(steps: pd.DataFrame, title: str) -> plt.Figure | None:
    """h/η and the share of steps unclipped / clipped / at the δ floor, per clipping optimizer."""
    clipping = steps.dropna(subset=["clip_factor"])
    names = colors.order(clipping["optimizer"].unique())
    if not names:
        return None
    fig, axes = plt.subplots(2, len(names), figsize=(4.5 * len(names), 6), squeeze=False, sharex="col")
    for col, name in enumerate(names):
        data = clipping[clipping["optimizer"] == name]
        sns.lineplot(data=data, x="step", y="clip_factor", errorbar=_band, ax=axes[0, col],
                     color=colors.of(name), label=name)
        axes[0, col].set(yscale="log", ylabel="h / η", title=name, xlabel="")
        shares = data.groupby("step")[["frac_unclipped", "frac_clipped", "frac_floor"]].mean()
        axes[1, col].stackplot(shares.index, shares.T.values, colors=REGIME_COLORS,
                               labels=["unclipped (h = η)", "clipped", "δ floor (h = ηδ)"])
        axes[1, col].set(xlabel="training step", ylabel="share of steps", ylim=(0, 1))
    axes[1, 0].legend(loc="lower right", fontsize="small")
    fig.suptitle("\n".join(textwrap.wrap(title, 90)), fontsize="medium")
    fig.tight_layout()
    return fig


def sharpness(steps: pd.DataFrame, title: str) -> plt.Figure | None:
    """The Hessian's top eigenvalue over training, one panel per optimizer, one line per learning
    rate (mean over seeds), each with its stability limit 2/η dashed and, for δ-GClip, 2/(ηδ) dotted
    (Cohen et al. 2021: gradient descent's sharpness rises to 2/η and hovers there)."""
    data = steps.assign(sharpness=_finite(steps["sharpness"])).dropna(subset=["sharpness"])
    data = data[data["sharpness"] > 0]
    names = colors.order(data["optimizer"].unique())
    if not names:
        return None
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4), squeeze=False, sharey=True)
    lrs = sorted(data["lr_config"].unique())
    shade = dict(zip(lrs, sns.color_palette("viridis", len(lrs))))
    for ax, name in zip(axes[0], names):
        mine = data[data["optimizer"] == name]
        for lr, run in mine.groupby("lr_config", sort=True):
            mean = run.groupby("step")[["sharpness", "sharpness_limit", "sharpness_floor_limit"]].mean()
            ax.plot(mean.index, mean["sharpness"], color=shade[lr], label=f"η = {lr:g}")
            ax.axhline(2 / lr, color=shade[lr], linestyle="--", linewidth=0.8)
            if mean["sharpness_floor_limit"].notna().any():
                ax.axhline(mean["sharpness_floor_limit"].dropna().iloc[-1], color=shade[lr], linestyle=":",
                           linewidth=0.8)
        ax.set(yscale="log", xlabel="training step", title=name)
        ax.legend(fontsize="x-small")
    axes[0, 0].set(ylabel="sharpness (top Hessian eigenvalue)")
    fig.suptitle("\n".join(textwrap.wrap(f"{title} — dashed 2/η, dotted 2/(ηδ)", 90)), fontsize="medium")
    fig.tight_layout()
    return fig


def tunability(curves_by_optimizer: dict[str, pd.DataFrame], metric_label: str, time_based: bool,
               title: str) -> plt.Figure:
    """Expected best of k configurations drawn from those tried, k = 1 … n, per optimizer; for a
    time-to-target task also the chance that the best of k reaches the target."""
    panels = 2 if time_based else 1
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 4), squeeze=False)
    for name in colors.order(curves_by_optimizer):
        curve = curves_by_optimizer[name]
        style = {"color": colors.of(name), "marker": "o", "label": name}
        y = curve["time_to_target"] if time_based else curve["metric"]
        shown = curve.assign(y=y.where(np.isfinite(y)))
        axes[0, 0].plot(shown["k"], shown["y"], **style)
        if time_based:
            axes[0, 1].plot(curve["k"], curve["p_reach"], **style)
    _title(axes[0, 0], title)
    axes[0, 0].set(xlabel="configurations tuned (k)",
                   ylabel="expected steps to target (gap: may miss)" if time_based
                   else f"expected best {metric_label}")
    if time_based:
        axes[0, 1].set(xlabel="configurations tuned (k)", ylabel="P(best of k reaches the target)",
                       ylim=(-0.02, 1.02))
    axes[0, 0].legend(fontsize="small")
    fig.tight_layout()
    return fig


def lr_sensitivity(points: pd.DataFrame, metric_label: str, log_metric: bool, title: str) -> plt.Figure | None:
    """Final metric (capped at its initial value) against the learning rate, the other
    hyperparameters at each optimizer's best; mean over seeds with a 95% band; diverged and
    no-progress seeds marked."""
    if points.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.lineplot(data=points, x="lr", y="capped", errorbar=_band, marker="o", ax=ax, **_hue(points))
    for status, marker, label in (("diverged", "x", "diverged seed"), ("no_progress", "s", "no-progress seed")):
        bad = points[points["status"] == status]
        if len(bad):
            shades = [colors.of(o) for o in bad["optimizer"]]
            ax.scatter(bad["lr"], bad["capped"], marker=marker, s=70, zorder=5, label=label,
                       **({"facecolors": "none", "edgecolors": shades} if marker == "s" else {"c": shades}))
    ax.set_xscale("log")
    if log_metric and (points["capped"] > 0).all():
        ax.set_yscale("log")
    ax.set(xlabel="learning rate η", ylabel=f"{metric_label} (capped at initial)")
    _title(ax, title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def heatmaps(trials: pd.DataFrame, value: str, label: str) -> plt.Figure | None:
    """lr × γ of the median `value` over seeds: a row per workload, a column per optimizer and δ."""
    data = trials.dropna(subset=["gamma"]).assign(delta=lambda d: d["delta"].fillna(0.0))
    data = data.groupby(["workload", "optimizer", "delta"]).filter(   # a panel needs 2 values each way
        lambda cell: cell["lr"].nunique() > 1 and cell["gamma"].nunique() > 1)
    if data.empty:
        return None
    data = data.assign(value=np.log10(_finite(data[value]).clip(lower=1e-12)))
    columns = sorted({(o, d) for o, d in zip(data["optimizer"], data["delta"])},
                     key=lambda c: (colors.order(data["optimizer"].unique()).index(c[0]), c[1]))
    workloads = sorted(data["workload"].unique())
    fig, axes = plt.subplots(len(workloads), len(columns), figsize=(4 * len(columns), 3.4 * len(workloads)),
                             squeeze=False)
    for r, workload in enumerate(workloads):
        for c, (optimizer, delta) in enumerate(columns):
            cell = data[(data["workload"] == workload) & (data["optimizer"] == optimizer) & (data["delta"] == delta)]
            ax = axes[r, c]
            if cell.empty:
                ax.axis("off")
                continue
            grid = cell.pivot_table(index="gamma", columns="lr", values="value", aggfunc="median")
            sns.heatmap(grid, ax=ax, cmap="viridis", annot=True, fmt=".1f", cbar_kws={"label": f"log10 {label}"})
            ax.set(xlabel="η (lr)", ylabel="γ")
            _title(ax, f"{workload} {optimizer}, δ = {delta:g}")
    fig.tight_layout()
    return fig


def phase_diagrams(best: pd.DataFrame, value: str, label: str, log: bool) -> plt.Figure | None:
    """width × depth, one panel per optimizer: each cell is a workload and shows its best
    configuration's value (`best`: a row per workload × optimizer with width, depth, value)."""
    if best["width"].nunique() < 2 and best["depth"].nunique() < 2:
        return None
    names = colors.order(best["optimizer"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names):
        grid = best[best["optimizer"] == name].pivot_table(index="depth", columns="width", values=value,
                                                           aggfunc="first")
        shown = np.log10(grid.clip(lower=1e-12)) if log else grid
        annot = grid.map(lambda v: "" if not math.isfinite(v) else f"{v:.3g}")
        with warnings.catch_warnings():  # every cell missed: an all-NaN colour scale is expected
            warnings.simplefilter("ignore", RuntimeWarning)
            sns.heatmap(shown.replace([np.inf, -np.inf], np.nan), ax=ax, cmap="magma_r", annot=annot,
                        fmt="", cbar_kws={"label": f"log10 {label}" if log else label})
        for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not math.isfinite(v):  # heatmap leaves NaN cells blank: say what they are
                ax.text(c + 0.5, r + 0.5, "miss" if v == math.inf else "—", ha="center", va="center",
                        color="0.35")
        ax.set_title(name, color=colors.of(name))
        ax.set(xlabel="width (hidden units)", ylabel="depth (hidden layers)")
    fig.tight_layout()
    return fig


def relative_distance_vs_width(trials: pd.DataFrame) -> plt.Figure | None:
    """max ‖w − w₀‖ / ‖w₀‖ of each optimizer's best configuration per workload, against width."""
    data = trials.assign(d=_finite(trials["max_rel_dist_from_init"])).dropna(subset=["d"])
    data = data[data["d"] > 0]
    if data.empty or data["width"].nunique() < 2:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sns.lineplot(data=data, x="width", y="d", style="depth", marker="o", errorbar=_band, ax=ax,
                 **_hue(data))
    ax.set(xscale="log", yscale="log", xlabel="width (hidden units)", ylabel="max ‖w − w₀‖ / ‖w₀‖",
           title="Relative distance from initialisation (best configuration per workload)")
    fig.tight_layout()
    return fig
