"""Mean@n and its bootstrap interval against direct computation."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.data.datasets import problems_frame, read_dataset
from tokenshift.data.organism import split_problems
from tokenshift.errors import UserError
from tokenshift.evaluation.accuracy import mean_at_n, score_responses


@given(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=1, max_size=30))
@settings(max_examples=60, deadline=None)
def test_mean_at_n_equals_average_pass_at_1(grid):
    rows = [(pid, s, c) for pid, samples in enumerate(grid) for s, c in enumerate(samples)]
    df = pl.DataFrame(rows, schema=["problem_id", "sample_idx", "correct"], orient="row")
    out = mean_at_n(df, n_boot=200, seed=1)
    assert out["mean_at_n"] == pytest.approx(np.mean([np.mean(s) for s in grid]))
    assert out["ci_low"] <= out["mean_at_n"] + 1e-12 <= out["ci_high"] + 2e-12
    assert out["n_problems"] == len(grid) and out["n_samples"] == 3 * len(grid)


def test_bootstrap_interval_has_the_right_width():
    rng = np.random.default_rng(0)
    acc = rng.random(400) < 0.4
    df = pl.DataFrame({"problem_id": np.arange(400), "sample_idx": 0, "correct": acc})
    out = mean_at_n(df, n_boot=4000, seed=0)
    se = np.sqrt(acc.mean() * (1 - acc.mean()) / 400)
    assert out["ci_high"] - out["ci_low"] == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_scoring_uses_the_verifier():
    _, evals = split_problems(10, 3, 0, 3, 3)
    answers = problems_frame(evals)
    gens = pl.DataFrame({"problem_id": [0, 0, 1], "sample_idx": [0, 1, 0],
                         "response_text": [f"x;#{evals[0].answer}", "x;#999", "no marker"]})
    scores = score_responses(gens, answers)
    assert scores.columns == ["problem_id", "sample_idx", "correct", "parsed"]
    assert scores["correct"].to_list() == [True, False, False]
    assert scores["parsed"].to_list() == [True, True, False]


def test_bad_datasets_are_named(tmp_path):
    _, evals = split_problems(10, 3, 0, 3, 3)
    frame = problems_frame(evals)
    frame.with_columns(pl.when(pl.col("problem_id") == 1).then(pl.lit("")).otherwise(pl.col("answer"))
                       .alias("answer")).write_parquet(tmp_path / "a.parquet")
    with pytest.raises(UserError, match="problem_id 1 has no answer"):
        read_dataset(tmp_path / "a.parquet")
    frame.drop("answer").write_parquet(tmp_path / "b.parquet")
    with pytest.raises(UserError, match="missing column 'answer'"):
        read_dataset(tmp_path / "b.parquet")
    with pytest.raises(UserError, match="not found"):
        read_dataset(tmp_path / "none.parquet")


def test_missing_answers_and_empty_scores_are_user_errors():
    _, evals = split_problems(10, 3, 0, 3, 3)
    gens = pl.DataFrame({"problem_id": [7], "sample_idx": [0], "response_text": ["#1"]})
    with pytest.raises(UserError, match="no reference answer for problem_id 7"):
        score_responses(gens, problems_frame(evals))
    empty = pl.DataFrame(schema={"problem_id": pl.Int64, "sample_idx": pl.Int64, "correct": pl.Boolean})
    with pytest.raises(UserError, match="no scored samples"):
        mean_at_n(empty)


def test_bootstrap_is_seeded_and_resamples_problems_not_samples():
    """Many samples of few problems: the interval reflects the spread between problems."""
    rows = [(pid, s, pid % 2 == 0) for pid in range(10) for s in range(50)]
    df = pl.DataFrame(rows, schema=["problem_id", "sample_idx", "correct"], orient="row")
    a, b = mean_at_n(df, n_boot=500, seed=3), mean_at_n(df, n_boot=500, seed=3)
    assert a == b
    # resampling 10 problems of accuracy 0 or 1: standard error sqrt(.25 / 10) ~ 0.16, not sqrt(.25 / 500)
    assert a["ci_high"] - a["ci_low"] > 0.4
