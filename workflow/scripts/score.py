"""Rule score: per-sample correctness of one model's responses on one dataset, by the dataset's grader."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.data.datasets import read_dataset
from tokenshift.evaluation.accuracy import score_responses
from tokenshift.files.parquet import write_parquet
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    scores = score_responses(pl.read_parquet(smk.input.generations), read_dataset(smk.input.dataset),
                             smk.params.grader)
    unparsed = scores.height - int(scores["parsed"].sum())
    print(f"{scores.height} responses graded by {smk.params.grader!r}: {int(scores['correct'].sum())} correct, "
          f"{unparsed} without a parseable answer (counted as incorrect)", file=log)
    write_parquet(scores, smk.output.scores)
