"""Rule crosssample_table: tables/crosssampling.csv, one row per sweep and budget."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.crosssample.tables import summarize
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    parts = [summarize(pl.read_parquet(path), keys, smk.params.n_boot, smk.params.seed)
             for keys, path in zip(smk.params.runs, smk.input.responses)]
    write_text(pl.concat(parts).write_csv(), smk.output.table)
