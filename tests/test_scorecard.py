"""The scorecard's claims on hand-made tables: each rule decides as its text says, and nothing is
reproduced without data."""


import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from tokenshift.analysis.scorecard import (
    CLAIMS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    Inputs,
    scorecard,
    to_markdown,
    wilson,
)


def summary(**pairs):
    base = {"dataset": "eval", "n_sequences": 10, "mean_js": 0.0, "median_js": 0.0, "pct_near_zero_full": 0.0,
            "mean_entropy_base": 0.0, "mean_entropy_tuned": 0.0, "overlap_at_1": 0.5, "pct_tail_below_0.0001": 0.0,
            "pct_tail_below_0.001": 0.0, "pct_tail_below_0.05": 0.0, "pct_tail_below_0.1": 0.0}
    return pl.DataFrame([{**base, "pair": name, **row} for name, row in pairs.items()])


def row(near_zero=95.0, high=2.0, n=100_000, n_high=2000, overlap=0.9, top3=95.0, tail=2.0):
    return {"n_positions": n, "pct_near_zero": near_zero, "pct_high": high, "n_high": n_high,
            **{f"overlap_at_{k}": overlap for k in (2, 3, 5, 10)}, "pct_top1_in_base_top3": top3,
            "pct_tail_below_0.01": tail}


def verdicts(x: Inputs) -> dict[str, str]:
    t = scorecard(x)
    return dict(zip(t["id"], t["verdict"]))


def test_every_claim_is_not_run_without_data():
    v = verdicts(Inputs(dataset="eval", dapo="rl"))
    assert list(v) == [f"C{i}" for i in range(1, 14)] and set(v.values()) == {NOT_RUN}


def test_table_has_a_rule_for_every_claim_and_markdown_tallies_verdicts():
    t = scorecard(Inputs(dataset="eval", dapo="rl"))
    assert t.height == 13 and all(len(r) > 40 for r in t["rule"]) and t["decided_by"].str.len_chars().min() > 3
    assert "13 not run." in to_markdown(t)
    assert sorted(CLAIMS.names(), key=lambda c: int(c[1:])) == list(t["id"])


@given(st.integers(0, 500), st.integers(1, 500))
def test_wilson_interval_contains_the_estimate(k, n):
    k = min(k, n)
    lo, hi = wilson(k, n)
    assert 0 <= lo <= k / n <= hi <= 1


@pytest.mark.parametrize("near_zero, n, verdict", [(95.0, 100_000, REPRODUCED), (70.0, 100_000, NOT_REPRODUCED),
                                                   (84.0, 50, INCONCLUSIVE)])
def test_c1_thresholds_dapo_share_by_its_interval(near_zero, n, verdict):
    x = Inputs(dataset="eval", dapo="rl", summary=summary(rl=row(near_zero=near_zero, n=n)))
    assert verdicts(x)["C1"] == verdict


def test_c1_needs_the_simplerl_pair_above_98_percent_when_configured():
    x = Inputs(dataset="eval", dapo="rl", simplerl="simple",
               summary=summary(rl=row(near_zero=95.0), simple=row(near_zero=96.0)))
    assert verdicts(x)["C1"] == NOT_REPRODUCED


def test_fine_mechanics_claims_need_enough_high_js_positions():
    x = Inputs(dataset="eval", dapo="rl", summary=summary(rl=row(n_high=10)))
    v = verdicts(x)
    assert v["C7"] == v["C8"] == v["C9"] == INCONCLUSIVE
    x = Inputs(dataset="eval", dapo="rl", summary=summary(rl=row(overlap=0.5, top3=99.0, tail=40.0)))
    v = verdicts(x)
    assert (v["C7"], v["C8"], v["C9"]) == (NOT_REPRODUCED, REPRODUCED, NOT_REPRODUCED)


def test_c2_needs_a_u_shape():
    centres = [(i + 0.5) / 10 for i in range(10)]
    means = [0.05, 0.02, 0.01, 0.005, 0.004, 0.004, 0.005, 0.01, 0.02, 0.03]
    pos = pl.DataFrame({"pair": "rl", "dataset": "eval", "bin": list(range(10)), "n": [1000] * 10, "mean": means,
                        "center": centres})
    assert verdicts(Inputs(dataset="eval", dapo="rl", position=pos))["C2"] == REPRODUCED
    flat_end = pos.with_columns(pl.when(pl.col("bin") == 9).then(0.001).otherwise(pl.col("mean")).alias("mean"))
    assert verdicts(Inputs(dataset="eval", dapo="rl", position=flat_end))["C2"] == NOT_REPRODUCED


def test_c4_c5_read_the_targets_table():
    t = pl.DataFrame({"pair": "rl", "dataset": "eval", "direction": ["forward", "reverse"], "eps": 0.01,
                      "budget": 4, "eff_pct": [2.0, 15.0], "initial_acc": [0.3, 0.7], "final_acc": [0.7, 0.3],
                      "target_acc": [0.7, 0.3], "reached": [True, True]})
    v = verdicts(Inputs(dataset="eval", dapo="rl", targets=t))
    assert (v["C4"], v["C5"]) == (REPRODUCED, NOT_REPRODUCED)


def test_c6_compares_random_with_targeted_intervals():
    def table(random_ci):
        return pl.DataFrame({"pair": "rl", "dataset": "eval", "direction": "forward", "mode": ["targeted", "random"],
                             "eps": 0.01, "budget": 8, "mean_at_n": [0.7, sum(random_ci) / 2],
                             "ci_low": [0.65, random_ci[0]], "ci_high": [0.75, random_ci[1]]})
    assert verdicts(Inputs(dataset="eval", dapo="rl", crosssampling=table((0.3, 0.4))))["C6"] == REPRODUCED
    assert verdicts(Inputs(dataset="eval", dapo="rl", crosssampling=table((0.6, 0.7))))["C6"] == INCONCLUSIVE


def test_c10_upper_percentiles_must_grow_fastest():
    def evo(p99_last):
        return pl.DataFrame({"step": [10, 20], "dataset": "eval", "js_p50": [0.0, 0.001], "js_p95": [0.01, 0.05],
                             "js_p99": [0.05, p99_last]})
    assert verdicts(Inputs(dataset="eval", dapo="rl", evolution=evo(0.3)))["C10"] == REPRODUCED
    assert verdicts(Inputs(dataset="eval", dapo="rl", evolution=evo(0.06)))["C10"] == NOT_REPRODUCED


def test_c11_c12_compare_every_sft_pair_with_rl():
    x = Inputs(dataset="eval", dapo="rl", sft=["sft", "sftm"],
               summary=summary(rl=row(high=2.0), sft=row(high=10.0), sftm=row(high=2.05)),
               weight_gap=pl.DataFrame({"pair": ["rl", "sft", "sftm"], "sigma": [0.001, 0.01, 0.0005]}))
    v = verdicts(x)
    assert (v["C11"], v["C12"]) == (INCONCLUSIVE, NOT_REPRODUCED)


def test_c13_needs_a_weighted_variant_above_the_baseline_and_none_below():
    def table(high_ci):
        return pl.DataFrame({"variant": ["dapo", "highkl", "lowkl"], "seed": 0, "dataset": "eval",
                             "mean_at_n": [0.5, sum(high_ci) / 2, 0.5], "ci_low": [0.45, high_ci[0], 0.44],
                             "ci_high": [0.55, high_ci[1], 0.56]})
    x = Inputs(dataset="eval", dapo="rl", weighted_variants=["highkl", "lowkl"], baseline_variant="dapo")
    x.variants = table((0.6, 0.7))
    assert verdicts(x)["C13"] == REPRODUCED
    x.variants = table((0.5, 0.6))
    assert verdicts(x)["C13"] == INCONCLUSIVE
    x.variants = table((0.3, 0.4))
    assert verdicts(x)["C13"] == NOT_REPRODUCED


@pytest.mark.parametrize("tail, verdict", [(0.0, REPRODUCED), (None, INCONCLUSIVE)])
def test_c9_reads_a_zero_tail_share_as_zero_and_a_missing_one_as_missing(tail, verdict):
    x = Inputs(dataset="eval", dapo="rl", summary=summary(rl=row(tail=tail)))
    assert verdicts(x)["C9"] == verdict
