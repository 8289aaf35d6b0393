"""Correctness of sampled responses and Mean@n with a bootstrap interval over problems."""

from __future__ import annotations

import numpy as np
import polars as pl

from tokenshift.errors import UserError
from tokenshift.evaluation.graders import grade


def score_responses(generations: pl.DataFrame, answers: pl.DataFrame, grader: str = "organism") -> pl.DataFrame:
    """Per-sample grades (problem_id, sample_idx, correct, parsed) against the dataset's answers.

    ``grader`` names an entry of ``graders.GRADERS``; ``parsed`` is false where no final answer
    could be read (such samples count as incorrect), so format failures stay visible.
    """
    joined = generations.select("problem_id", "sample_idx", "response_text").join(
        answers.select("problem_id", "answer"), on="problem_id", how="left"
    )
    missing = joined.filter(pl.col("answer").is_null())
    if missing.height:
        raise UserError(f"no reference answer for problem_id {missing['problem_id'][0]}")
    grades = grade(grader, joined["response_text"].to_list(), joined["answer"].to_list())
    return joined.select("problem_id", "sample_idx").with_columns(
        pl.Series("correct", grades.correct, dtype=pl.Boolean), pl.Series("parsed", grades.parsed, dtype=pl.Boolean)
    )


def mean_at_n(scores: pl.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Mean@n (pass@1 averaged over samples, problems weighted equally) and a percentile bootstrap CI.

    Problems, not samples, are resampled: samples of one problem are correlated.
    """
    per_problem = scores.group_by("problem_id").agg(pl.col("correct").cast(pl.Float64).mean()).sort("problem_id")
    acc = per_problem["correct"].to_numpy()
    if acc.size == 0:
        raise UserError("no scored samples: Mean@n needs at least one response")
    rng = np.random.default_rng(seed)
    boots = acc[rng.integers(0, acc.size, size=(n_boot, acc.size))].mean(axis=1)
    alpha = (1 - level) / 2
    return {
        "n_problems": int(acc.size),
        "n_samples": int(scores.height),
        "mean_at_n": float(acc.mean()),
        "ci_low": float(np.quantile(boots, alpha)),
        "ci_high": float(np.quantile(boots, 1 - alpha)),
    }
