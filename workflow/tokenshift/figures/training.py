"""Training curves of the training variants: what each run did, rollout by rollout.

One panel per logged quantity (reward, entropy, completion length, and for weighted runs the
KL to the sampling policy and the weights), one line per variant; seeds of a variant are
averaged per rollout step, with their range shaded when there are several.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import seaborn as sns

from tokenshift.figures.plotting import new_figure, save_figure

# (column of metrics.csv, panel title); a panel is drawn when any run logged its column.
PANELS = [("reward", "reward (mean over rollouts)"), ("entropy", "token entropy"),
          ("completions/mean_length", "completion length (tokens)"), ("kl_old/mean", "KL to sampling policy (mean)"),
          ("weights/mean", "weight w (mean)"), ("weights/moved_share", "share of tokens with w ≠ 1")]


def per_rollout(metrics: pl.DataFrame, column: str) -> pl.DataFrame:
    """Mean of ``column`` per (variant, seed, rollout step) over the updates that logged it."""
    return (metrics.filter(pl.col(column).is_not_null())
            .group_by("variant", "seed", "rollout_step").agg(pl.col(column).mean())
            .sort("variant", "seed", "rollout_step"))


def plot_training_curves(metrics: pl.DataFrame, pdf: str | Path, png: str | Path) -> None:
    """``metrics``: every run's metrics.csv stacked, with ``variant`` and ``seed`` columns."""
    panels = [(c, t) for c, t in PANELS if c in metrics.columns and metrics[c].is_not_null().any()]
    variants = metrics["variant"].unique(maintain_order=True).to_list()
    colour = dict(zip(variants, sns.color_palette(n_colors=len(variants))))  # one colour per variant in every panel
    fig, axes = new_figure(4.0 * len(panels), 3.2, ncols=len(panels), squeeze=False)
    for ax, (column, title) in zip(axes[0], panels):
        runs = per_rollout(metrics, column)
        for (variant,), g in runs.group_by("variant", maintain_order=True):
            band = g.group_by("rollout_step").agg(pl.col(column).mean().alias("mean"), pl.col(column).min().alias("lo"),
                                                  pl.col(column).max().alias("hi")).sort("rollout_step")
            x = band["rollout_step"].to_numpy()
            ax.plot(x, band["mean"].to_numpy(), marker="o", markersize=3, label=variant, color=colour[variant])
            if g["seed"].n_unique() > 1:
                ax.fill_between(x, band["lo"].to_numpy(), band["hi"].to_numpy(), alpha=0.2, color=colour[variant])
        ax.set_title(title)
        ax.set_xlabel("rollout step")
    axes[0][0].legend(title="variant")  # the reward panel: every run logs a reward
    save_figure(fig, pdf, png)
