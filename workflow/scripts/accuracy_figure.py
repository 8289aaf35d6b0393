"""Rule accuracy_figure: Mean@n per model with its bootstrap interval."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.figures.accuracy import plot_accuracy
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    plot_accuracy(pl.read_csv(smk.input.table), smk.output.pdf, smk.output.png)
