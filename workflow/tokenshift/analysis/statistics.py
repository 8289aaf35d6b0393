"""Shift statistics of per-token dumps as tidy tables (polars, lazy), one function per table.

Every table is grouped by ``pair`` and ``dataset`` so one file serves the per-pair figures and
the SFT-vs-RL comparisons alike. Empty subsets (no JS > 0.1 positions, say) give zero-count
rows or no rows, never an error; figures print a note for them.

Every table is a function of the dumps' rows alone, to the bit, whatever polars' thread count:
polars splits scans and group-bys across threads and adds the partial sums of a float column in
whatever order the threads finish, so means are computed here from integer sums (counts, or the
fixed-point limbs of :func:`exact_sum`), which do not depend on the order of the terms; quantiles
are order statistics (functions of the sorted values); and every table is sorted on keys that
identify its rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tokenshift.files.markdown import markdown_table
from tokenshift.files.parquet import read_metadata

KEYS = ["pair", "dataset"]
RANK_BINS = [(1, 1, "1"), (2, 2, "2"), (3, 3, "3"), (4, 5, "4-5"), (6, 10, "6-10"), (11, None, ">10")]


@dataclass(frozen=True)
class StatsParams:
    """Thresholds and binning shared by the tables.

    The defaults are the paper's: near-zero JS < 1e-3 (paper §2.2) and high JS > 0.1 (Fig. 7, 17, 18).
    """

    top_p: float = 0.9  # the analysis top_p of the ``js`` column, for labels
    near_zero: float = 1e-3
    high: float = 0.1
    tail_thresholds: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 0.05, 0.1)
    overlap_thresholds: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    tail_subset: float = 0.01  # Fig 18b: tuned probability of top-1 tokens with base prob below this
    position_bins: int = 20
    window: int = 64
    top_tokens: int = 20
    hist_tokens: int = 5
    hist_bins: int = 40
    percentiles: tuple[float, ...] = field(default_factory=lambda: tuple(float(q) for q in range(101)))


def scan_dumps(entries: list[tuple[str, str, str | Path]]) -> pl.LazyFrame:
    """One lazy frame over several dumps, tagged with their ``pair``, ``dataset`` and the top_p of their ``js``
    column (``js_top_p``, from the file's metadata: datasets may be analysed at different top_p)."""
    frames = [pl.scan_parquet(path).with_columns(pair=pl.lit(pair), dataset=pl.lit(dataset),
                                                 js_top_p=pl.lit(read_metadata(path).get("top_p"), pl.Float64))
              for pair, dataset, path in entries]
    return pl.concat(frames, how="diagonal_relaxed")


def js_columns(lf: pl.LazyFrame, top_p: float) -> dict[str, float]:
    """JS columns present in the dump and the top_p each was computed at."""
    out = {}
    for name in lf.collect_schema().names():
        if name == "js":
            out[name] = top_p
        elif name == "js_full":
            out[name] = 1.0
        elif name.startswith("js_p") and name[4:].isdigit():
            out[name] = int(name[4:]) / 100
    return out


LIMB_BITS = 30
LIMBS = 4
EXACT_RANGE = 32  # exact_sum is exact for terms with |x| < 2**EXACT_RANGE, to 2**(EXACT_RANGE - LIMBS * LIMB_BITS)


def exact_sum(x: pl.Expr) -> pl.Expr:
    """Sum of a float expression (nulls skipped) that does not depend on the order of its terms, as Float64.

    Each term is cut into ``LIMBS`` fixed-point integer limbs of ``LIMB_BITS`` bits below
    2**EXACT_RANGE (the first signed), whose Int64 sums are exact, and so the same in any order and
    any split across threads; the limb sums are then combined in one fixed order. Terms below
    2**-88 (the last limb's unit) are dropped, which no table here can show; the Int64 sums hold up
    to 2**33 terms. A group with a term that is not finite or has |x| >= 2**32 falls back to the plain
    sum (inf or NaN, which any order gives alike).
    """
    x = x.cast(pl.Float64)
    # floor(x * 2**(30 (i + 1) - 32)) is exact in float64 (a power-of-two scaling, then dropping bits), and so is
    # the difference of two consecutive ones, limb i: an integer in [0, 2**30) (limb 0: in [-2**30, 2**30))
    floors = [(x * 2.0 ** (LIMB_BITS * (i + 1) - EXACT_RANGE)).floor() for i in range(LIMBS)]
    parts = [(f if i == 0 else f - floors[i - 1] * 2.0 ** LIMB_BITS).cast(pl.Int64, strict=False).sum()
             .cast(pl.Float64) * 2.0 ** (EXACT_RANGE - LIMB_BITS * (i + 1)) for i, f in enumerate(floors)]
    total = parts[-1]
    for part in reversed(parts[:-1]):  # smallest first
        total = total + part
    # false for NaN (polars orders it above every number) and inf; the casts above gave null for them
    in_range = (x.abs() < 2.0 ** EXACT_RANGE).all()
    return pl.when(in_range).then(total).otherwise(x.sum())


def exact_mean(x: pl.Expr) -> pl.Expr:
    """Mean of a float expression (nulls skipped, null when none) from :func:`exact_sum`: order-independent."""
    n = x.count()
    return pl.when(n > 0).then(exact_sum(x) / n)


def count_mean(x: pl.Expr) -> pl.Expr:
    """Mean of an integer or boolean expression (nulls skipped, null when none), from its exact integer sum."""
    n = x.count()
    return pl.when(n > 0).then(x.cast(pl.Int64).sum() / n)


def _high(p: StatsParams) -> pl.Expr:
    return pl.col("js") > p.high


def _percentiles(col: str, qs: list[float]) -> list[pl.Expr]:
    """Linear-interpolation percentiles (numpy's default) from one sort per group."""
    pos = pl.lit(pl.Series(qs)) / 100 * (pl.len() - 1)
    lo = pos.floor().cast(pl.UInt32)
    hi = pos.ceil().cast(pl.UInt32)
    s = pl.col(col).drop_nulls().sort()
    return [pl.lit(pl.Series(qs)).alias("percentile"), s.gather(lo).alias("_lo"), s.gather(hi).alias("_hi"),
            (pos - pos.floor()).alias("_w")]


def js_percentiles(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 1/8/26/28: the JS value at each percentile, for every JS column (top_p) present."""
    parts = []
    has_tp = "js_top_p" in lf.collect_schema().names()
    for col, tp in js_columns(lf, p.top_p).items():
        # the js column's top_p is the dump's own when known, else the run's analysis top_p
        top_p = pl.col("js_top_p").first().fill_null(tp) if col == "js" and has_tp else pl.lit(tp, pl.Float64)
        q = (lf.select(*KEYS, col, *(["js_top_p"] if has_tp else [])).filter(pl.col(col).is_not_null())
             .group_by(KEYS).agg(top_p.alias("top_p"), *_percentiles(col, list(p.percentiles)))
             .explode("percentile", "_lo", "_hi", "_w")
             .select(*KEYS, "top_p", pl.lit(col).alias("column"), "percentile",
                     (pl.col("_lo") + (pl.col("_hi") - pl.col("_lo")) * pl.col("_w")).cast(pl.Float64).alias("js")))
        parts.append(q)
    return pl.concat(parts).collect().sort(KEYS + ["top_p", "column", "percentile"])


def position_profile(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 2/10: JS mean, median and percentile bands by normalised-position bin."""
    b = p.position_bins
    return (lf.with_columns(bin=(pl.col("norm_position") * b).floor().clip(0, b - 1).cast(pl.Int32))
            .group_by(KEYS + ["bin"])
            .agg(n=pl.len(), mean=exact_mean(pl.col("js")), median=pl.col("js").median(),
                 q10=pl.col("js").quantile(0.10, "linear"), q25=pl.col("js").quantile(0.25, "linear"),
                 q75=pl.col("js").quantile(0.75, "linear"), q90=pl.col("js").quantile(0.90, "linear"))
            .with_columns(center=(pl.col("bin") + 0.5) / b).collect().sort(KEYS + ["bin"]))


def local_averages(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 22: mean JS by distance (tokens) from the response start and from the answer-span start."""
    w = p.window
    start = (lf.filter(pl.col("position") < w).group_by(KEYS + ["position"])
             .agg(n=pl.len(), mean_js=exact_mean(pl.col("js")))
             .select(*KEYS, pl.lit("start").alias("anchor"), pl.col("position").cast(pl.Int32).alias("distance"),
                     "n", "mean_js"))
    ans = (lf.filter(pl.col("answer_start").is_not_null())
           .with_columns(distance=(pl.col("position") - pl.col("answer_start")).cast(pl.Int32))
           .filter(pl.col("distance").abs() <= w).group_by(KEYS + ["distance"])
           .agg(n=pl.len(), mean_js=exact_mean(pl.col("js")))
           .select(*KEYS, pl.lit("answer").alias("anchor"), "distance", "n", "mean_js"))
    return pl.concat([start, ans]).collect().sort(KEYS + ["anchor", "distance"])


def _divergence_bin(p: StatsParams) -> pl.Expr:
    return (pl.when(pl.col("js") < p.near_zero).then(pl.lit(f"low (JS < {p.near_zero:g})"))
            .when(_high(p)).then(pl.lit(f"high (JS > {p.high:g})")).otherwise(None).alias("js_bin"))


def _histogram(value: pl.Expr, lo: float, hi: float, bins: int) -> list[pl.Expr]:
    """Expressions for a fixed-edge histogram bin index; values outside are clipped into the end bins."""
    width = (hi - lo) / bins
    return [((value - lo) / width).floor().clip(0, bins - 1).cast(pl.Int32).alias("bin")]


def _with_edges(df: pl.DataFrame, lo: float, hi: float, bins: int, group: list[str]) -> pl.DataFrame:
    width = (hi - lo) / bins
    return df.with_columns(bin_lo=lo + pl.col("bin") * width, bin_hi=lo + (pl.col("bin") + 1) * width,
                           share=pl.col("count") / pl.col("count").sum().over(group))


def entropy_by_divergence(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 3/13/16: histograms of base and tuned entropy in the low and high divergence bins."""
    top = lf.select(pl.max_horizontal(pl.col("entropy_base").max(), pl.col("entropy_tuned").max())).collect().item()
    hi = float(top) if top is not None and top > 0 else 1.0
    long = (lf.with_columns(_divergence_bin(p)).filter(pl.col("js_bin").is_not_null())
            .unpivot(index=KEYS + ["js_bin"], on=["entropy_base", "entropy_tuned"], variable_name="model",
                     value_name="entropy")
            .with_columns(pl.col("model").str.replace("entropy_", "")))
    group = KEYS + ["js_bin", "model"]
    counts = (long.with_columns(_histogram(pl.col("entropy"), 0.0, hi, p.hist_bins))
              .group_by(group + ["bin"]).agg(count=pl.len()).collect())
    return _with_edges(counts, 0.0, hi, p.hist_bins, group).sort(group + ["bin"])


def sequence_means(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 23: per-response mean entropy (base, tuned) against mean JS."""
    return (lf.group_by(KEYS + ["problem_id", "sample_idx"])
            .agg(length=pl.len(), mean_js=exact_mean(pl.col("js")), mean_js_full=exact_mean(pl.col("js_full")),
                 share_high=count_mean(_high(p)), mean_entropy_base=exact_mean(pl.col("entropy_base")),
                 mean_entropy_tuned=exact_mean(pl.col("entropy_tuned")), correct=pl.col("correct").first())
            .collect().sort(KEYS + ["problem_id", "sample_idx"]))


def token_frequency(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 4: the most frequent sampled tokens at high and at low divergence, ranked."""
    group = KEYS + ["js_bin"]
    return (lf.with_columns(_divergence_bin(p)).filter(pl.col("js_bin").is_not_null())
            .group_by(group + ["token_text"]).agg(count=pl.len())
            .with_columns(share=pl.col("count") / pl.col("count").sum().over(group))
            .sort(group + ["count", "token_text"], descending=[False] * len(group) + [True, False])
            .with_columns(rank=pl.int_range(1, pl.len() + 1).over(group))
            .filter(pl.col("rank") <= p.top_tokens).collect().sort(group + ["rank"]))


JS_LOG_FLOOR = -6.0  # log10 JS below this goes to the first bin (JS = 0 included)


def token_js_histograms(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 19: log10-JS histograms over all occurrences of the tokens most frequent at high / low JS."""
    freq = token_frequency(lf, p).filter(pl.col("rank") <= p.hist_tokens)
    chosen = freq.select(*KEYS, pl.col("js_bin").alias("selected_by"), "token_text", "rank").lazy()
    hi = math.log10(math.log(2))
    group = KEYS + ["selected_by", "token_text"]
    logjs = pl.col("js").clip(lower_bound=10 ** JS_LOG_FLOOR).log10()
    counts = (lf.select(*KEYS, "token_text", "js").join(chosen, on=KEYS + ["token_text"], how="inner")
              .with_columns(_histogram(logjs, JS_LOG_FLOOR, hi, p.hist_bins))
              .group_by(group + ["rank", "bin"]).agg(count=pl.len()).collect())
    return _with_edges(counts, JS_LOG_FLOOR, hi, p.hist_bins, group).sort(group + ["bin"])


def topk_overlap(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 7/11: mean |TopK(base) ∩ TopK(tuned)| / k for k = 1..K, at JS above each of overlap_thresholds
    and ``high`` (subset "JS > t", threshold t), and over all positions (subset "all", threshold null).

    ``n`` counts the positions of the subset; the means are exact (integer sums), all in one pass."""
    k_max = lf.select(pl.col("topk_overlap").list.len().max()).collect().item() or 0
    ks = range(1, max(k_max, 1) + 1)
    thresholds = sorted({*p.overlap_thresholds, p.high})
    subsets = [*((f"JS > {t:g}", t, pl.col("js") > t) for t in thresholds), ("all", None, None)]
    ov = lf.select(*KEYS, "js", *(pl.col("topk_overlap").list.get(k - 1).alias(f"_ov{k}") for k in ks))
    aggs = []
    for i, (_, _, cond) in enumerate(subsets):
        aggs.append((pl.len() if cond is None else cond.sum()).cast(pl.UInt32).alias(f"n{i}"))
        aggs += [(count_mean(pl.col(f"_ov{k}") if cond is None else pl.col(f"_ov{k}").filter(cond)) / k)
                 .alias(f"{i}_{k}") for k in ks]
    agg = ov.group_by(KEYS).agg(aggs).collect()
    parts = []
    for i, (subset, threshold, _) in enumerate(subsets):
        part = agg.select(*KEYS, pl.col(f"n{i}").alias("n"), *(pl.col(f"{i}_{k}").alias(str(k)) for k in ks))
        part = part.unpivot(index=KEYS + ["n"], variable_name="k", value_name="overlap")
        parts.append(part.with_columns(subset=pl.lit(subset), threshold=pl.lit(threshold, pl.Float64),
                                       k=pl.col("k").cast(pl.Int32)))
    cols = KEYS + ["subset", "threshold", "k", "n", "overlap"]
    return pl.concat([d.select(cols) for d in parts]).sort(KEYS + ["threshold", "k"], nulls_last=True)


def _rank_bin(col: str) -> pl.Expr:
    expr = pl.when(pl.lit(False)).then(pl.lit(""))
    for lo, hi, label in RANK_BINS:
        cond = pl.col(col) >= lo if hi is None else pl.col(col).is_between(lo, hi)
        expr = expr.when(cond).then(pl.lit(label))
    return expr.alias("base_rank")


def rank_distribution(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 12/17: base-model rank of the tuned top-1..3 tokens at JS > high (share per rank bin)."""
    cols = [f"base_rank_of_tuned_top{i}" for i in (1, 2, 3)]
    long = (lf.filter(_high(p)).unpivot(index=KEYS, on=cols, variable_name="tuned_rank", value_name="rank")
            .with_columns(pl.col("tuned_rank").str.extract(r"(\d)$").cast(pl.Int32), _rank_bin("rank")))
    counts = long.group_by(KEYS + ["tuned_rank", "base_rank"]).agg(count=pl.len()).collect()
    order = {label: i for i, (_, _, label) in enumerate(RANK_BINS)}
    return (counts.with_columns(share=pl.col("count") / pl.col("count").sum().over(KEYS + ["tuned_rank"]),
                                order=pl.col("base_rank").replace_strict(order, return_dtype=pl.Int32))
            .sort(KEYS + ["tuned_rank", "order"]).drop("order"))


def tail_shares(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 9/18a/20: share of JS > high positions whose tuned top-1 had base probability below each threshold."""
    high = _high(p)
    exprs = [(high & (pl.col("base_prob_of_tuned_top1") < t)).sum().alias(f"{t:g}") for t in p.tail_thresholds]
    agg = lf.group_by(KEYS).agg(high.sum().cast(pl.UInt32).alias("n"), *exprs).collect()
    long = agg.unpivot(index=KEYS + ["n"], variable_name="threshold", value_name="count")
    return (long.with_columns(pl.col("threshold").cast(pl.Float64),
                              share=pl.when(pl.col("n") > 0).then(pl.col("count") / pl.col("n")))
            .sort(KEYS + ["threshold"]))


def tail_tuned_probs(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 18b: histogram of the tuned top-1 probability where its base probability < tail_subset (JS > high)."""
    group = KEYS
    counts = (lf.filter(_high(p) & (pl.col("base_prob_of_tuned_top1") < p.tail_subset))
              .with_columns(_histogram(pl.col("topk_probs_tuned").list.get(0), 0.0, 1.0, p.hist_bins // 2))
              .group_by(group + ["bin"]).agg(count=pl.len()).collect())
    return _with_edges(counts, 0.0, 1.0, p.hist_bins // 2, group).sort(group + ["bin"])


RATIO_RANGE = (-3.0, 3.0)  # log10 r/p, clipped into the end bins


def top3_changes(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """Fig 21: r(v) - p(v) and log10 r(v)/p(v) for the tuned top-3 tokens at JS > high (histograms)."""
    parts = []
    for i in (1, 2, 3):
        r = pl.col("topk_probs_tuned").list.get(i - 1).cast(pl.Float64)
        q = pl.col(f"base_prob_of_tuned_top{i}").cast(pl.Float64)
        parts.append(lf.filter(_high(p)).select(*KEYS, pl.lit(i, pl.Int32).alias("tuned_rank"),
                                                (r - q).alias("difference"), (r / q).log10().alias("log10_ratio")))
    long = pl.concat(parts).unpivot(index=KEYS + ["tuned_rank"], variable_name="measure")
    group = KEYS + ["tuned_rank", "measure"]
    out = []
    for measure, (lo, hi) in (("difference", (-1.0, 1.0)), ("log10_ratio", RATIO_RANGE)):
        counts = (long.filter(pl.col("measure") == measure)
                  .with_columns(_histogram(pl.col("value"), lo, hi, p.hist_bins))
                  .group_by(group + ["bin"]).agg(count=pl.len(), mean=exact_mean(pl.col("value"))).collect())
        out.append(_with_edges(counts, lo, hi, p.hist_bins, group))
    return pl.concat(out).sort(group + ["bin"])


OVERLAP_KS = (1, 2, 3, 5, 10)


def shift_summary(lf: pl.LazyFrame, p: StatsParams) -> pl.DataFrame:
    """The headline numbers per pair and dataset; nulls where no JS > high.

    Sparsity (share of near-zero and of high-JS positions, paper §2.2), entropies (§2.4), and at
    JS > high the top-k overlap, the share of tuned top-1 tokens in the base top-3 and the tail
    shares (§4, Fig. 7, 17, 18).
    """
    high = _high(p)
    overall = lf.group_by(KEYS).agg(
        n_positions=pl.len(), n_sequences=pl.struct("problem_id", "sample_idx").n_unique(),
        pct_near_zero=count_mean(pl.col("js") < p.near_zero) * 100, pct_high=count_mean(high) * 100,
        mean_js=exact_mean(pl.col("js")), median_js=pl.col("js").median(),
        pct_near_zero_full=count_mean(pl.col("js_full") < p.near_zero) * 100,
        mean_entropy_base=exact_mean(pl.col("entropy_base")), mean_entropy_tuned=exact_mean(pl.col("entropy_tuned")))
    k_max = lf.select(pl.col("topk_overlap").list.len().max()).collect().item() or 0
    at_high = [(count_mean(pl.col("topk_overlap").list.get(k - 1)) / k).alias(f"overlap_at_{k}")
               for k in OVERLAP_KS if k <= k_max]
    at_high += [count_mean(pl.col("base_rank_of_tuned_top1") <= 3).mul(100).alias("pct_top1_in_base_top3")]
    at_high += [count_mean(pl.col("base_prob_of_tuned_top1") < t).mul(100).alias(f"pct_tail_below_{t:g}")
                for t in p.tail_thresholds]
    high_stats = lf.filter(high).group_by(KEYS).agg(pl.len().alias("n_high"), *at_high)
    out = overall.join(high_stats, on=KEYS, how="left").collect().sort(KEYS)
    return out.with_columns(pl.col("n_high").fill_null(0))


TABLES: dict[str, Callable[[pl.LazyFrame, StatsParams], pl.DataFrame]] = {
    "js_percentiles": js_percentiles,
    "position_profile": position_profile,
    "local_averages": local_averages,
    "entropy_by_divergence": entropy_by_divergence,
    "sequence_means": sequence_means,
    "token_frequency": token_frequency,
    "token_js_histograms": token_js_histograms,
    "topk_overlap": topk_overlap,
    "rank_distribution": rank_distribution,
    "tail_shares": tail_shares,
    "tail_tuned_probs": tail_tuned_probs,
    "top3_changes": top3_changes,
    "shift_summary": shift_summary,
}


def summary_markdown(df: pl.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table of the summary (nulls shown as '—')."""
    return markdown_table(df.columns, df.iter_rows(), digits)
