"""Training curves of the training variants: what each run did, rollout by rollout.

One panel per logged quantity (reward, entropy, completion length, and for weighted runs the
KL to the sampling policy and the weights), one line per variant; seeds of a variant are
averaged per rollout step, with their range shaded when there are several.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from tokenshift.figures.plotting import JS_FLOOR, log_js_axis, new_figure, panel_grid, save_figure

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
    fig, axes = panel_grid(len(panels), 3, 3.6, 2.6)
    for ax, (column, title) in zip(axes, panels):
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
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # one legend for all panels, beside the first row (every run logs a reward)
    axes[min(3, len(axes)) - 1].legend(*axes[0].get_legend_handles_labels(), title="variant", loc="upper left",
                                       bbox_to_anchor=(1.02, 1), frameon=False)
    save_figure(fig, pdf, png)


def plot_evolution(table: pl.DataFrame, pdf: str | Path, png: str | Path, high: float) -> None:
    """Fig. 29: per checkpoint step, (a) JS percentiles on the final model's responses, (b) the Jaccard
    overlap of its JS > ``high`` positions with the final model's, (c) Mean@n with its 95% CI."""
    from tokenshift.analysis.evolution import PERCENTILES

    fig, axes = new_figure(12.0, 3.2, ncols=3)
    for dataset, g in table.group_by("dataset", maintain_order=True):
        suffix = f" ({dataset[0]})" if table["dataset"].n_unique() > 1 else ""
        x = g["step"].to_numpy()
        for q, c in zip(PERCENTILES, sns.color_palette("viridis", len(PERCENTILES))):
            axes[0].plot(x, g[f"js_p{q}"].clip(JS_FLOOR).to_numpy(), marker="o", markersize=3, color=c,
                         label=f"p{q}{suffix}")
        axes[1].plot(x, g["jaccard_final"].to_numpy(), marker="o", markersize=3, label=dataset[0])
        axes[2].errorbar(x, g["mean_at_n"].to_numpy(), capsize=2, marker="o", markersize=3, label=dataset[0],
                         yerr=[(g["mean_at_n"] - g["ci_low"]).to_numpy(), (g["ci_high"] - g["mean_at_n"]).to_numpy()])
    axes[0].set(title="(a) JS percentiles vs base", xlabel="RL step", ylabel="JS (nats)")
    log_js_axis(axes[0])
    axes[0].legend(fontsize="small")
    axes[1].set(title=f"(b) Jaccard with final JS > {high:g} set", xlabel="RL step", ylim=(0, 1.05))
    axes[2].set(title="(c) Mean@n (95% CI)", xlabel="RL step", ylabel="accuracy")
    datasets = ", ".join(table["dataset"].unique(maintain_order=True))
    save_figure(fig, pdf, png, title=f"base vs each checkpoint of rl, on rl's responses ({datasets})")
