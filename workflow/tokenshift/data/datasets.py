"""Prepared datasets on disk: Parquet with problem_id, problem, prompt, answer; checked before heavy work.

``problem`` is the raw problem text (what a grader or a re-render needs), ``prompt`` the exact
text the models are given (:func:`tokenshift.data.prompts.render_frame`), and an optional
``solution`` the reference solution SFT trains on. Tables without a
``problem`` column -- hand-made prompt files, organism datasets written before prompts were
rendered -- are still read: their prompt is their problem, as it was for the organism.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tokenshift.data.organism import Problem
from tokenshift.errors import UserError

SCHEMA = {"problem_id": pl.Int64, "problem": pl.String, "prompt": pl.String, "answer": pl.String}
REQUIRED = ("problem_id", "prompt", "answer")


def problems_frame(problems: list[Problem]) -> pl.DataFrame:
    """The prepared table of organism ``problems``: the bare chain is both problem and prompt."""
    return pl.DataFrame(
        {"problem_id": [p.problem_id for p in problems], "problem": [p.prompt for p in problems],
         "prompt": [p.prompt for p in problems], "answer": [str(p.answer) for p in problems]},
        schema=SCHEMA,
    )


def read_dataset(path: str | Path) -> pl.DataFrame:
    """A validated prepared dataset (SCHEMA's columns, and solution if present); a one-line UserError names
    the first problem found."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"dataset {p} not found")
    df = pl.read_parquet(p)
    for col in REQUIRED:
        if col not in df.columns:
            raise UserError(f"dataset {p}: missing column '{col}'")
    if "problem" not in df.columns:
        df = df.with_columns(pl.col("prompt").alias("problem"))
    kept = {**SCHEMA, **({"solution": pl.String} if "solution" in df.columns else {})}
    df = df.select([pl.col(c).cast(t) for c, t in kept.items()])
    bad = df.filter(pl.col("answer").is_null() | (pl.col("answer").str.strip_chars() == "")
                    | pl.col("prompt").is_null() | pl.col("problem").is_null())
    if bad.height:
        raise UserError(f"dataset {p}: row with problem_id {bad['problem_id'][0]} has no answer, problem or prompt")
    if df["problem_id"].n_unique() != df.height:
        raise UserError(f"dataset {p}: duplicate problem_id values")
    return df
