"""Prompt datasets on disk: Parquet with problem_id, prompt, answer; checked before heavy work."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tokenshift.data.organism import Problem
from tokenshift.errors import UserError

SCHEMA = {"problem_id": pl.Int64, "prompt": pl.String, "answer": pl.String}


def problems_frame(problems: list[Problem]) -> pl.DataFrame:
    """The dataset table of ``problems`` (answers as strings, as the verifier compares them)."""
    return pl.DataFrame(
        {"problem_id": [p.problem_id for p in problems], "prompt": [p.prompt for p in problems],
         "answer": [str(p.answer) for p in problems]},
        schema=SCHEMA,
    )


def read_dataset(path: str | Path) -> pl.DataFrame:
    """A validated prompt dataset; a one-line UserError names the first problem found."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"dataset {p} not found")
    df = pl.read_parquet(p)
    for col in SCHEMA:
        if col not in df.columns:
            raise UserError(f"dataset {p}: missing column '{col}'")
    df = df.select([pl.col(c).cast(t) for c, t in SCHEMA.items()])
    bad = df.filter(pl.col("answer").is_null() | (pl.col("answer").str.strip_chars() == "")
                    | pl.col("prompt").is_null())
    if bad.height:
        raise UserError(f"dataset {p}: row with problem_id {bad['problem_id'][0]} has no answer or prompt")
    if df["problem_id"].n_unique() != df.height:
        raise UserError(f"dataset {p}: duplicate problem_id values")
    return df
