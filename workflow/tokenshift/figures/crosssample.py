"""Cross-sampling figures: accuracy vs budget (paper Fig. 5, 6, 44), targeted vs random
(Fig. 45), and the most frequent switched token pairs (Fig. 43)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
from matplotlib.axes import Axes

from tokenshift.figures.plotting import new_figure, save_figure

DIRECTION_TITLE = {"forward": "forward: base primary, tuned intervenes",
                   "reverse": "reverse: tuned primary, base intervenes"}


def _reference_lines(ax: Axes, base_acc: float | None, tuned_acc: float | None, tuned_name: str) -> None:
    if base_acc is not None:
        ax.axhline(base_acc, color="grey", ls="--", lw=1, label=f"base ({base_acc:.2f})")
    if tuned_acc is not None:
        ax.axhline(tuned_acc, color="black", ls=":", lw=1, label=f"{tuned_name} ({tuned_acc:.2f})")


def plot_accuracy_vs_budget(table: pl.DataFrame, base_acc: float | None, tuned_acc: float | None,
                            tuned_name: str, pdf: str | Path, png: str | Path, title: str | None = None) -> None:
    """One panel per direction, one line per threshold, with base and tuned accuracy as references."""
    t = table.filter(pl.col("mode") == "targeted")
    directions = t["direction"].unique(maintain_order=True).to_list()
    fig, axes = new_figure(5.0 * len(directions), 3.6, ncols=len(directions), squeeze=False)
    for ax, direction in zip(axes[0], directions):
        d = t.filter(pl.col("direction") == direction)
        for (eps,), g in d.group_by("eps", maintain_order=True):
            g = g.sort("budget")
            x = g["budget"].to_numpy()
            ax.plot(x, g["mean_at_n"].to_numpy(), marker="o", label=f"JS > {eps:g}")
            ax.fill_between(x, g["ci_low"].to_numpy(), g["ci_high"].to_numpy(), alpha=0.2)
        _reference_lines(ax, base_acc, tuned_acc, tuned_name)
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xlim(left=0)  # budgets are never negative: no mirrored ticks
        ax.set_xlabel("switch budget k (0, then log)")
        ax.set_ylabel("Mean@n (95% CI)")
        ax.set_title(DIRECTION_TITLE.get(direction, direction), fontsize=9)
        ax.legend(fontsize=7)
    save_figure(fig, pdf, png, title=title)


def plot_targeted_vs_random(table: pl.DataFrame, base_acc: float | None, tuned_acc: float | None,
                            tuned_name: str, pdf: str | Path, png: str | Path, title: str | None = None) -> None:
    """Accuracy against the mean number of switched tokens (identity swaps included)."""
    directions = table["direction"].unique(maintain_order=True).to_list()
    fig, axes = new_figure(5.0 * len(directions), 3.6, ncols=len(directions), squeeze=False)
    for ax, direction in zip(axes[0], directions):
        d = table.filter(pl.col("direction") == direction)
        for (mode, eps), g in d.group_by(["mode", "eps"], maintain_order=True):
            g = g.sort("budget")
            ax.plot(g["all_tokens"].to_numpy(), g["mean_at_n"].to_numpy(), marker="o" if mode == "targeted" else "x",
                    ls="-" if mode == "targeted" else "--", label=f"{mode} (eps {eps:g})")
        _reference_lines(ax, base_acc, tuned_acc, tuned_name)
        ax.set_xlabel("mean switched tokens per response (incl. identity swaps)")
        ax.set_ylabel("Mean@n")
        ax.set_title(DIRECTION_TITLE.get(direction, direction), fontsize=9)
        ax.legend(fontsize=7)
    save_figure(fig, pdf, png, title=title)


def token_pair_counts(switches: pl.DataFrame, decode: Callable[[int], str], top: int) -> pl.DataFrame:
    """Most frequent (primary token -> intervention token) pairs among effective switches."""
    eff = switches.filter(pl.col("effective"))
    counts = (eff.group_by("primary_token", "intervention_token").len("count")
              .sort(["count", "primary_token", "intervention_token"], descending=[True, False, False]).head(top))
    labels = [f"{decode(a)!r} -> {decode(b)!r}" for a, b in zip(counts["primary_token"], counts["intervention_token"])]
    return counts.with_columns(pl.Series("label", labels, dtype=pl.String))


def plot_token_pairs(pairs_by_direction: dict[str, pl.DataFrame], pdf: str | Path, png: str | Path,
                     title: str | None = None) -> None:
    """Horizontal bars per direction; an empty panel says that no effective switch happened."""
    n = max(1, len(pairs_by_direction))
    fig, axes = new_figure(4.5 * n, 4.0, ncols=n, squeeze=False)
    for ax, (direction, counts) in zip(axes[0], pairs_by_direction.items()):
        if counts.height:
            ax.barh(counts["label"].to_list()[::-1], counts["count"].to_list()[::-1])
        else:
            ax.text(0.5, 0.5, "no effective switches", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel("effective switches (primary -> intervention)")
        ax.set_title(direction, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    save_figure(fig, pdf, png, title=title)
