"""Rule shift_summary: the headline shift numbers as CSV and Markdown."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.analysis.statistics import summary_markdown
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    df = pl.read_parquet(smk.input.table)
    write_text(df.write_csv(), smk.output.csv)
    write_text(summary_markdown(df), smk.output.md)
