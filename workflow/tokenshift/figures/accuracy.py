"""Accuracy figure: Mean@n per model and dataset with bootstrap intervals."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tokenshift.figures.plotting import new_figure, save_figure


def plot_accuracy(table: pl.DataFrame, pdf: str | Path, png: str | Path) -> None:
    """Bars of Mean@n per model, one colour per dataset, with the bootstrap interval as error bars."""
    fig, ax = new_figure()
    datasets = table["dataset"].unique(maintain_order=True).to_list()
    width = 0.8 / max(1, len(datasets))
    for j, ds in enumerate(datasets):
        sub = table.filter(pl.col("dataset") == ds)
        xs = [i + j * width for i in range(sub.height)]
        means = sub["mean_at_n"].to_numpy()
        err = [means - sub["ci_low"].to_numpy(), sub["ci_high"].to_numpy() - means]
        ax.bar(xs, means, width=width, yerr=err, capsize=3, label=ds)
        for x, m in zip(xs, means):
            ax.text(x, m + 0.02, f"{m:.2f}", ha="center", fontsize=8)
    models = table["model"].unique(maintain_order=True).to_list()
    ax.set_xticks([i + width * (len(datasets) - 1) / 2 for i in range(len(models))], models)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("Mean@n (95% bootstrap CI)")
    ax.legend(title="dataset")
    save_figure(fig, pdf, png)
