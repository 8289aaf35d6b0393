"""Rule score: per-sample correctness of one model's responses on one dataset."""

import polars as pl
from tokenshift.data.datasets import read_dataset
from tokenshift.evaluation.accuracy import score_responses
from tokenshift.files.parquet import write_parquet
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    scores = score_responses(pl.read_parquet(smk.input.generations), read_dataset(smk.input.dataset))
    write_parquet(scores, smk.output.scores)
