"""Figures of the shift statistics (paper §2, §4, A.3, A.4), drawn from the tidy tables of
:mod:`tokenshift.analysis.statistics`.

Each figure is a function ``(tables, series, params) -> Figure``; ``series`` lists the pairs to
draw, so the SFT-vs-RL figures (8-12) are the same functions over more pairs. An empty subset
draws a "no positions" note instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import polars as pl
import seaborn as sns

from tokenshift.analysis.statistics import StatsParams
from tokenshift.figures.catalog import FIGURES
from tokenshift.figures.plotting import COLUMN_WIDTH, JS_FLOOR, log_js_axis, panel_grid, save_figure, subplots

Tables = dict[str, pl.DataFrame]


def _series(df: pl.DataFrame, pairs: list[str]) -> pl.DataFrame:
    """Rows of the chosen pairs with a ``series`` label (pair, or pair/dataset when several datasets)."""
    df = df.filter(pl.col("pair").is_in(pairs))
    multi = df["dataset"].n_unique() > 1 if df.height else False
    label = pl.format("{}/{}", "pair", "dataset") if multi else pl.col("pair")
    return df.with_columns(series=label)


Panel = tuple[plt.Axes, str, pl.DataFrame]


PANELS_PER_ROW = 4  # wider figures wrap into rows: a page, or a screen, shows four panels across


def _series_panels(df: pl.DataFrame, sharey: bool = False) -> tuple[plt.Figure, list[Panel]]:
    """One panel per series, in rows of up to PANELS_PER_ROW: (figure, [(axes, series name, its rows)])."""
    names = df["series"].unique(maintain_order=True).to_list() or ["(none)"]
    fig, axes = panel_grid(len(names), PANELS_PER_ROW, COLUMN_WIDTH, 2.8, sharey=sharey)
    return fig, [(ax, name, df.filter(pl.col("series") == name)) for ax, name in zip(axes, names)]


def _note(ax: plt.Axes, text: str = "no positions in this subset") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10, color="0.4")


def _empty(ax: plt.Axes, df: pl.DataFrame, text: str = "no positions in this subset") -> bool:
    if df.height == 0 or ("count" in df.columns and df["count"].sum() == 0):
        _note(ax, text)
        return True
    return False


def _stairs(ax: plt.Axes, df: pl.DataFrame, hue: str, **kw) -> None:
    """Histogram from (bin_lo, bin_hi, share) rows, one step line per ``hue`` value."""
    for key, part in df.sort(hue, "bin").group_by(hue, maintain_order=True):
        edges = part["bin_lo"].to_list() + [part["bin_hi"][-1]]
        full = part["share"].to_list()
        ax.stairs(full, edges, label=str(key[0]), **kw)


def _legend(ax: plt.Axes) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


def js_percentile_curves(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 1 / 8: the JS value at each percentile of positions (analysis top_p), one curve per pair."""
    df = _series(t["js_percentiles"].filter(pl.col("column") == "js"), pairs).with_columns(
        pl.col("js").clip(JS_FLOOR))
    several_top_p = df["top_p"].n_unique() > 1  # e.g. the fine-tuning prompts, analysed at top-p 1
    if several_top_p:
        df = df.with_columns(series=pl.format("{} (top-p {})", "series", "top_p"))
    fig, ax = subplots(figsize=(COLUMN_WIDTH * 2, 2.8))
    if not _empty(ax, df):
        sns.lineplot(df.to_pandas(), x="percentile", y="js", hue="series", ax=ax)
        sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1), frameon=False, title=None)
    ax.axhline(p.near_zero, ls=":", c="0.5", lw=0.8)
    top_p = "each set's top-p" if several_top_p or not df.height else f"top-p {df['top_p'][0]:g}"
    ax.set(xlabel="percentile of positions", ylabel=f"JS ({top_p})", title="JS divergence percentiles")
    log_js_axis(ax)
    return fig


def js_topp_robustness(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 28: percentile curves of one response set for every analysed top_p (incl. 1.0 = full distributions)."""
    df = _series(t["js_percentiles"], pairs).with_columns(pl.format("top-p {}", "top_p").alias("top-p"),
                                                          pl.col("js").clip(JS_FLOOR))
    fig, panels = _series_panels(df)
    for ax, name, part in panels:
        if not _empty(ax, part):
            sns.lineplot(part.to_pandas(), x="percentile", y="js", hue="top-p", ax=ax)
        ax.set(xlabel="percentile of positions", ylabel="JS", title=str(name))
        log_js_axis(ax)
    return fig


def js_topp_sampling(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 26: JS percentile curves of responses *sampled* at different top-p, each analysed at its own top-p;
    one panel per pair that has several (config topp_sampling)."""
    df = (t["js_percentiles"].filter((pl.col("column") == "js") & pl.col("pair").is_in(pairs))
          .with_columns(series=pl.col("pair"), js=pl.col("js").clip(JS_FLOOR),
                        sampled=pl.format("sampled at top-p {}", "top_p")))
    several = df.group_by("pair").agg(pl.col("top_p").n_unique() > 1).filter(pl.col("top_p"))["pair"]
    fig, panels = _series_panels(df.filter(pl.col("pair").is_in(several)))
    for ax, name, part in panels:
        if not _empty(ax, part, "no pair sampled at several top-p (topp_sampling.pairs)"):
            sns.lineplot(part.sort("top_p").to_pandas(), x="percentile", y="js", hue="sampled", ax=ax)
        ax.set(xlabel="percentile of positions", ylabel="JS", title=str(name))
        log_js_axis(ax)
    return fig


def js_by_position(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 2 / 10: mean and median JS by normalised position, with 25-75 and 10-90 percentile bands."""
    df = _series(t["position_profile"], pairs)
    fig, panels = _series_panels(df, sharey=True)
    for ax, name, part in panels:
        part = part.sort("center")
        if not _empty(ax, part):
            x = part["center"].to_numpy()
            ax.fill_between(x, part["q10"].to_numpy(), part["q90"].to_numpy(), alpha=0.15, label="10-90%")
            ax.fill_between(x, part["q25"].to_numpy(), part["q75"].to_numpy(), alpha=0.3, label="25-75%")
            ax.plot(x, part["mean"].to_numpy(), label="mean")
            ax.plot(x, part["median"].to_numpy(), ls="--", label="median")
            _legend(ax)
        ax.set(xlabel="normalised position (t + 0.5) / L", ylabel="JS", title=str(name), xlim=(0, 1))
    return fig


def mean_js_by_position(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 10 (SFT vs RL): mean JS by normalised position, one line per pair."""
    df = _series(t["position_profile"], pairs)
    fig, ax = subplots(figsize=(5, 3.5))
    if not _empty(ax, df):
        sns.lineplot(df.to_pandas(), x="center", y="mean", hue="series", marker="o", ax=ax)
    ax.set(xlabel="normalised position", ylabel="mean JS", xlim=(0, 1), title="mean JS by position")
    return fig


def js_local_averages(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 22: mean JS by distance from the response start and from the start of the final-answer span."""
    df = _series(t["local_averages"], pairs)
    fig, axes = subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, anchor, xlabel in ((axes[0], "start", "tokens from response start"),
                               (axes[1], "answer", "tokens from answer span start")):
        part = df.filter(pl.col("anchor") == anchor)
        if not _empty(ax, part, "no answer spans found" if anchor == "answer" else "no positions"):
            sns.lineplot(part.to_pandas(), x="distance", y="mean_js", hue="series", ax=ax)
        if anchor == "answer":
            ax.axvline(0, ls=":", c="0.5")
        ax.set(xlabel=xlabel, ylabel="mean JS")
    return fig


def entropy_bins(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 3 / 16: entropy of base and tuned within the low and the high divergence bins."""
    df = _series(t["entropy_by_divergence"], pairs)
    names = df["series"].unique(maintain_order=True).to_list() or ["(none)"]
    bins = [f"low (JS < {p.near_zero:g})", f"high (JS > {p.high:g})"]
    fig, axes = subplots(len(names), 2, figsize=(9, 3.2 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        for ax, b in zip(row, bins):
            part = df.filter((pl.col("series") == name) & (pl.col("js_bin") == b))
            if not _empty(ax, part):
                _stairs(ax, part, "model", fill=False, lw=1.5)
                _legend(ax)
            ax.set(xlabel="entropy (nats)", ylabel="share of positions", title=f"{name}: {b}")
    return fig


def sequence_entropy_vs_js(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 23: per-response mean entropy (base) against mean JS, coloured by correctness."""
    df = _series(t["sequence_means"], pairs)
    fig, panels = _series_panels(df)
    for ax, name, part in panels:
        part = part.with_columns(pl.col("correct").cast(pl.String).fill_null("?"))
        if not _empty(ax, part, "no responses"):
            sns.scatterplot(part.to_pandas(), x="mean_entropy_base", y="mean_js", hue="correct", s=14, ax=ax)
        ax.set(xlabel="mean base entropy per response", ylabel="mean JS per response", title=str(name))
    return fig


def token_ranking(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 4: most frequent sampled tokens at high and at low divergence (ranked bars, not a word cloud)."""
    df = _series(t["token_frequency"], pairs[:1])
    bins = [f"high (JS > {p.high:g})", f"low (JS < {p.near_zero:g})"]
    fig, axes = subplots(1, 2, figsize=(9, 0.25 * p.top_tokens + 1.5))
    for ax, b in zip(axes, bins):
        part = df.filter(pl.col("js_bin") == b).sort("rank").with_columns(
            token=pl.col("token_text").map_elements(repr, return_dtype=pl.String))
        if not _empty(ax, part):
            sns.barplot(part.to_pandas(), y="token", x="share", orient="h", color="C0" if "high" in b else "C2",
                        ax=ax)
        ax.set(xlabel="share of positions in bin", ylabel="sampled token", title=f"{'/'.join(pairs[:1])}: {b}")
    return fig


def token_js_histograms(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 19: JS distribution over all occurrences of the tokens most frequent at high / low divergence."""
    df = _series(t["token_js_histograms"], pairs[:1])
    fig, axes = subplots(2, 1, figsize=(6, 6), sharex=True)
    for ax, prefix in zip(axes, ("high", "low")):
        part = df.filter(pl.col("selected_by").str.starts_with(prefix)).with_columns(
            token=pl.col("token_text").map_elements(repr, return_dtype=pl.String))
        if not _empty(ax, part):
            _stairs(ax, part, "token", lw=1.2)
            _legend(ax)
        ax.set(xlabel="log10 JS (JS = 0 in the first bin)", ylabel="share of the token's positions",
               title=f"tokens frequent at {prefix} divergence")
    return fig


def topk_overlap(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 11: |TopK(base) ∩ TopK(tuned)| / k against k at JS > high, one line per pair."""
    df = _series(t["topk_overlap"].filter(pl.col("threshold") == p.high), pairs).drop_nulls("overlap")
    fig, ax = subplots(figsize=(COLUMN_WIDTH * 1.4, 2.8))
    if not _empty(ax, df):
        sns.lineplot(df.to_pandas(), x="k", y="overlap", hue="series", marker="o", ax=ax)
    ax.set(xlabel="k", ylabel="top-k overlap", ylim=(0, 1.02), title=f"top-k overlap at JS > {p.high:g}")
    return fig


def topk_overlap_thresholds(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 7: top-k overlap against k, one panel per pair, one line per JS threshold (stats.overlap_thresholds)."""
    df = _series(t["topk_overlap"].filter(pl.col("threshold").is_not_null()), pairs).drop_nulls("overlap")
    fig, panels = _series_panels(df, sharey=True)
    for ax, name, part in panels:
        if not _empty(ax, part):
            sns.lineplot(part.with_columns(pl.format("JS > {}", "threshold").alias("threshold")).to_pandas(),
                         x="k", y="overlap", hue="threshold", marker="o", ax=ax)
        ax.set(xlabel="k", ylabel="top-k overlap", ylim=(0, 1.02), title=str(name))
    return fig


def base_rank(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 12 / 17: base-model rank of the tuned top-1..3 tokens at JS > high."""
    df = _series(t["rank_distribution"], pairs)
    fig, panels = _series_panels(df, sharey=True)
    for ax, name, part in panels:
        part = part.with_columns(pl.format("tuned top-{}", "tuned_rank").alias("tok"))
        if not _empty(ax, part):
            sns.barplot(part.to_pandas(), x="base_rank", y="share", hue="tok", ax=ax)
        ax.set(xlabel="rank in base model", ylabel="share", title=f"{name}: JS > {p.high:g}")
    return fig


def _tail_bars(ax: plt.Axes, t: Tables, pairs: list[str], p: StatsParams) -> None:
    df = _series(t["tail_shares"], pairs).drop_nulls("share")
    if not _empty(ax, df):
        d = df.with_columns(pl.col("threshold").map_elements(lambda x: f"<{x:g}", return_dtype=pl.String),
                            pct=pl.col("share") * 100)
        sns.barplot(d.to_pandas(), x="threshold", y="pct", hue="series", ax=ax)
    ax.set(xlabel="base probability of tuned top-1", ylabel=f"% of JS > {p.high:g} positions")


def tail_shares(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 9: share of divergent positions whose tuned top-1 had base probability below a threshold."""
    fig, ax = subplots(figsize=(5, 3.5))
    _tail_bars(ax, t, pairs, p)
    return fig


def tail_figure(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 18: (a) tail shares, (b) tuned probability of top-1 tokens with base probability < tail_subset."""
    fig, axes = subplots(1, 2, figsize=(9, 3.5))
    _tail_bars(axes[0], t, pairs, p)
    axes[0].set_title("(a)")
    hist = _series(t["tail_tuned_probs"], pairs)
    if not _empty(axes[1], hist, f"no tuned top-1 with base prob < {p.tail_subset:g}"):
        _stairs(axes[1], hist, "series", lw=1.5)
        _legend(axes[1])
    axes[1].set(xlabel="tuned probability of its top-1", ylabel="share",
                title=f"(b) base prob < {p.tail_subset:g}")
    return fig


def top3_changes(t: Tables, pairs: list[str], p: StatsParams) -> plt.Figure:
    """Fig 21: r(v) - p(v) and log10 r(v)/p(v) for the tuned top-3 tokens at JS > high."""
    df = _series(t["top3_changes"], pairs).with_columns(pl.format("{} top-{}", "series", "tuned_rank").alias("tok"))
    fig, axes = subplots(1, 2, figsize=(9, 3.5))
    for ax, measure, xlabel in ((axes[0], "difference", "r(v) - p(v)"),
                                (axes[1], "log10_ratio", "log10 r(v) / p(v)")):
        part = df.filter(pl.col("measure") == measure)
        if not _empty(ax, part):
            _stairs(ax, part, "tok", lw=1.2)
            _legend(ax)
        ax.axvline(0, ls=":", c="0.5")
        ax.set(xlabel=xlabel, ylabel="share", title=f"tuned top-3 at JS > {p.high:g}")
    return fig


def render(name: str, tables: Tables, primary: list[str], compare: list[str], p: StatsParams,
           pdf: str | Path, png: str | Path, models: dict[str, str] | None = None,
           datasets: list[str] | None = None) -> None:
    """Draw figure ``name`` from its tables (rows of ``datasets`` only, when given) and write both formats,
    titled with the pairs' models (``models``: pair -> "base → tuned") and the datasets drawn."""
    spec = FIGURES[name]
    draw: Callable[[Tables, list[str], StatsParams], plt.Figure] = globals()[spec.draw]
    pairs = compare if spec.compare else primary
    if datasets is not None:
        tables = {k: v.filter(pl.col("dataset").is_in(datasets)) for k, v in tables.items()}
    fig = draw(tables, pairs, p)
    datasets = sorted({d for table in spec.tables for d in tables[table]["dataset"].unique()})
    shown = "; ".join(f"{pair}: {(models or {}).get(pair, pair)}" for pair in pairs)
    save_figure(fig, pdf, png, title=f"{shown} (on {', '.join(datasets)})")
