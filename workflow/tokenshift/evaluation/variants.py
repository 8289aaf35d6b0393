"""The training variants' accuracies (the paper's Tables 2, 4 and 5): per seed with CIs, and in the
paper's form, mean ± std over seeds per dataset plus the overall average.

A variant's difference from the baseline counts as beyond the noise on a dataset only when every
seed's 95% CI lies wholly above (or below) every baseline seed's CI; anything else is reported as
inside the noise, so a table never claims a gain its runs do not support.
"""

from __future__ import annotations

import statistics

import polars as pl

from tokenshift.files.markdown import latex_table, markdown_table

COLUMNS = ["variant", "seed", "dataset", "mean_at_n", "ci_low", "ci_high"]

# The paper's numbers (Mean@32 in %, Qwen2.5-Math-7B unless noted), printed beside the run's.
PAPER = ("Paper (Qwen2.5-Math-7B, Mean@32, 3 runs, overall): DAPO baseline 42.48 ± 1.35, low-KL boost "
         "44.92 ± 0.05, high-KL boost 45.05 ± 0.79 (Table 2); 80/20 entropy 41.66 (Table 5). Qwen2.5-7B: "
         "baseline 31.89, linear relative 35.20, scheduled 34.37 (Table 4).")


def variant_table(accuracy: pl.DataFrame, models: dict[str, tuple[str, int]]) -> pl.DataFrame:
    """Rows of the accuracy table for the variant models (model name -> (variant, seed))."""
    rows = [{"variant": models[r["model"]][0], "seed": models[r["model"]][1], "dataset": r["dataset"],
             "mean_at_n": r["mean_at_n"], "ci_low": r["ci_low"], "ci_high": r["ci_high"]}
            for r in accuracy.iter_rows(named=True) if r["model"] in models]
    return pl.DataFrame(rows, schema={"variant": pl.String, "seed": pl.Int64, "dataset": pl.String,
                                      "mean_at_n": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64})


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


def paper_form(t: pl.DataFrame, baseline: str) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the Table 2 form: Mean@n in % per dataset (mean ± std over seeds), the
    overall average, and per dataset how the variant compares with ``baseline``."""
    datasets = list(dict.fromkeys(t["dataset"].to_list()))
    headers = ["Configuration", *datasets, "Overall Avg", "vs " + baseline]
    rows = []
    for variant in dict.fromkeys(t["variant"].to_list()):
        v = t.filter(pl.col("variant") == variant)
        cells = [_mean_std(v.filter(pl.col("dataset") == d)["mean_at_n"].to_list()) for d in datasets]
        overall = v.group_by("seed").agg(pl.col("mean_at_n").mean()).sort("seed")["mean_at_n"].to_list()
        verdicts = "—" if variant == baseline else "; ".join(
            f"{d}: {versus_baseline(t, variant, baseline, d)}" for d in datasets)
        rows.append([variant, *cells, _mean_std(overall), verdicts])
    return headers, rows


def to_markdown(t: pl.DataFrame, baseline: str) -> str:
    headers, rows = paper_form(t, baseline)
    return markdown_table(headers, rows) + "\n" + PAPER + "\n"


def to_latex(t: pl.DataFrame, baseline: str) -> str:
    headers, rows = paper_form(t, baseline)
    return latex_table(headers, rows)
