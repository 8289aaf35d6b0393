"""Cross-sampling summaries: per-sequence token percentages, and Table 1's smallest budget reaching a target."""

from __future__ import annotations

import polars as pl
import pytest
from tokenshift.crosssample.tables import summarize, target_table, to_latex, to_markdown

PAIRS = [{"name": "rl", "base": "base", "tuned": "rl"}]
ACC = pl.DataFrame({"model": ["base", "rl"], "dataset": ["eval", "eval"], "mean_at_n": [0.2, 0.6]})


def _table(direction, accs):
    return pl.DataFrame({
        "pair": "rl", "dataset": "eval", "direction": direction, "mode": "targeted", "eps": 0.05,
        "budget": [0, 1, 2, 4], "mean_at_n": accs, "ci_low": 0.0, "ci_high": 1.0, "eff_tokens": [0.0, 1, 2, 3],
        "all_tokens": [0.0, 1, 2, 4], "eff_pct": [0.0, 1, 2, 3], "all_pct": [0.0, 1, 2, 4],
        "tail_share": [1.0, 0.8, 0.6, 0.5],
    })


def test_summarize_percentages_are_per_sequence():
    resp = pl.DataFrame({"budget": [2, 2], "problem_id": [0, 1], "sample_idx": [0, 0], "correct": [True, False],
                         "length": [10, 100], "n_switches": [2, 2], "n_effective": [1, 0], "handover": [4, 50]})
    row = summarize(resp, {"pair": "rl", "dataset": "eval", "direction": "forward", "mode": "targeted",
                           "eps": 0.1}, 100, 0).row(0, named=True)
    assert row["all_pct"] == pytest.approx((20 + 2) / 2) and row["eff_pct"] == pytest.approx(10 / 2)
    assert row["all_tokens"] == 2 and row["eff_tokens"] == 0.5 and row["mean_at_n"] == 0.5
    assert row["tail_share"] == pytest.approx((6 + 50) / 110)  # pooled over tokens, not per sequence


def test_smallest_budget_reaching_the_target():
    t = pl.concat([_table("forward", [0.2, 0.45, 0.59, 0.7]), _table("reverse", [0.6, 0.5, 0.3, 0.25])])
    out = {r["direction"]: r for r in target_table(t, ACC, PAIRS, tolerance=0.02).iter_rows(named=True)}
    assert out["forward"]["budget"] == 2 and out["forward"]["reached"]  # 0.59 >= 0.6 - 0.02
    assert out["reverse"]["budget"] == 4 and not out["reverse"]["reached"]  # closest: 0.25 > 0.2 + 0.02
    assert out["forward"]["initial_acc"] == 0.2 and out["reverse"]["initial_acc"] == 0.6
    t1 = target_table(t, ACC, PAIRS, 0.02)
    assert "(not reached)" in to_markdown(t1) and r"\#" in to_latex(t1)


def test_initial_accuracy_needs_budget_zero():
    """Initial accuracy is the budget-0 run, never silently the smallest budget of the sweep."""
    t = _table("forward", [0.2, 0.45, 0.59, 0.7]).filter(pl.col("budget") > 0)
    with pytest.raises(ValueError, match="no budget 0"):
        target_table(t, ACC, PAIRS, tolerance=0.02)
