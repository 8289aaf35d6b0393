"""The training variants' accuracies (the paper's Tables 2, 4 and 5): per seed with CIs, and in the
paper's form, mean ± std over seeds per dataset plus the overall average.

A variant's difference from the baseline counts as beyond the noise on a dataset only when every
seed's 95% CI lies wholly above (or below) every baseline seed's CI; anything else is reported as
inside the noise, so a table never claims a gain its runs do not support.

Beside the accuracies, each run's share of weighted updates whose KL to the sampling policy (KL_old)
was above 0: the first update after each rollout runs on the sampling policy itself, so there
KL_old = 0 and every weight is 1. With steps_per_generation k updates per rollout the share is
(k - 1)/k; the paper's 16 mini-batches per rollout give 15/16. Unweighted runs compute no KL_old
and get no share.
"""

from __future__ import annotations

import statistics

import polars as pl

from tokenshift.files.markdown import latex_table, markdown_table

COLUMNS = ["variant", "seed", "dataset", "mean_at_n", "ci_low", "ci_high", "kl_old_nonzero_share"]
KL_OLD = "kl_old/mean"  # the weighted trainer's per-update mean KL_old (train/<variant>/<seed>/metrics.csv)

# The paper's numbers (Mean@32 in %, Qwen2.5-Math-7B unless noted), printed beside the run's.
PAPER = ("Paper (Qwen2.5-Math-7B, Mean@32, 3 runs, overall): DAPO baseline 42.48 ± 1.35, low-KL boost "
         "44.92 ± 0.05, high-KL boost 45.05 ± 0.79 (Table 2); 80/20 entropy 41.66 (Table 5). Qwen2.5-7B: "
         "baseline 31.89, linear relative 35.20, scheduled 34.37 (Table 4). Its weighted runs update on 16 "
         "mini-batches per rollout, so KL_old > 0 on 15 of 16 updates (94%).")


def kl_old_nonzero_share(metrics: pl.DataFrame) -> float | None:
    """Share of a run's updates (rows of its per-update log) whose mean KL_old is above 0; None for a
    run that logged no KL_old (an unweighted one). Updates without a KL_old (every group of the
    mini-batch dropped by dynamic sampling, so no token was weighted) are left out."""
    if KL_OLD not in metrics.columns:
        return None
    kl = metrics[KL_OLD].cast(pl.Float64).drop_nulls().drop_nans()
    return float((kl > 0).mean()) if len(kl) else None


def variant_table(accuracy: pl.DataFrame, models: dict[str, tuple[str, int]],
                  shares: dict[tuple[str, int], float | None] | None = None) -> pl.DataFrame:
    """Rows of the accuracy table for the variant models (model name -> (variant, seed)), each with
    its run's KL_old share from ``shares`` ((variant, seed) -> :func:`kl_old_nonzero_share`)."""
    shares = shares or {}
    rows = [{"variant": models[r["model"]][0], "seed": models[r["model"]][1], "dataset": r["dataset"],
             "mean_at_n": r["mean_at_n"], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
             "kl_old_nonzero_share": shares.get(tuple(models[r["model"]]))}
            for r in accuracy.iter_rows(named=True) if r["model"] in models]
    return pl.DataFrame(rows, schema={"variant": pl.String, "seed": pl.Int64, "dataset": pl.String,
                                      "mean_at_n": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                                      "kl_old_nonzero_share": pl.Float64})


def versus_baseline(t: pl.DataFrame, variant: str, baseline: str, dataset: str) -> str:
    """'above', 'below' or 'inside the noise': CIs of every seed against every baseline seed."""
    mine = t.filter((pl.col("variant") == variant) & (pl.col("dataset") == dataset))
    base = t.filter((pl.col("variant") == baseline) & (pl.col("dataset") == dataset))
    if mine.is_empty() or base.is_empty():
        return "inside the noise"
    if mine["ci_low"].min() > base["ci_high"].max():
        return "above"
    if mine["ci_high"].max() < base["ci_low"].min():
        return "below"
    return "inside the noise"


def _mean_std(values: list[float]) -> str:
    pct = [100 * v for v in values]
    mean = statistics.fmean(pct)
    return f"{mean:.2f} ± {statistics.stdev(pct):.2f}" if len(pct) > 1 else f"{mean:.2f}"


def _share(v: pl.DataFrame) -> str:
    """A variant's KL_old share in %, mean over its seeds (— when unweighted)."""
    per_seed = v.group_by("seed").agg(pl.col("kl_old_nonzero_share").first())["kl_old_nonzero_share"].drop_nulls()
    return f"{100 * per_seed.mean():.0f}%" if len(per_seed) else "—"


def paper_form(t: pl.DataFrame, baseline: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the Table 2 form: Mean@n in % per dataset (mean ± std over seeds), the
    overall average, the share of weighted updates with nonzero KL_old, and per dataset how the variant
    compares with ``baseline``."""
    datasets = list(dict.fromkeys(t["dataset"].to_list()))
    headers = ["Configuration", *datasets, "Overall Avg", "Updates with nonzero KL_old", "vs " + baseline]
    rows = []
    for variant in dict.fromkeys(t["variant"].to_list()):
        v = t.filter(pl.col("variant") == variant)
        cells = [_mean_std(v.filter(pl.col("dataset") == d)["mean_at_n"].to_list()) for d in datasets]
        overall = v.group_by("seed").agg(pl.col("mean_at_n").mean()).sort("seed")["mean_at_n"].to_list()
        verdicts = "—" if variant == baseline else "; ".join(
            f"{d}: {versus_baseline(t, variant, baseline, d)}" for d in datasets)
        rows.append([variant, *cells, _mean_std(overall), _share(v), verdicts])
    return headers, rows


def to_markdown(t: pl.DataFrame, baseline: str) -> str:
    headers, rows = paper_form(t, baseline)
    return markdown_table(headers, rows) + "\n" + PAPER + "\n"


def to_latex(t: pl.DataFrame, baseline: str) -> str:
    headers, rows = paper_form(t, baseline)
    return latex_table(headers, rows)
