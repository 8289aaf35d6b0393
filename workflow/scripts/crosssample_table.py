"""Rule crosssample_table: tables/crosssampling.csv, one row per sweep and budget.

Reads each sweep's responses (with their handover positions, for the tail share), in the order of
the rule's ``runs``.
"""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.crosssample.tables import RESPONSE_COLUMNS, summarize
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821


with rule_context(smk):
    parts = [summarize(pl.read_parquet(resp, columns=RESPONSE_COLUMNS), keys, smk.params.n_boot, smk.params.seed)
             for keys, resp in zip(smk.params.runs, list(smk.input.responses), strict=True)]
    write_text(pl.concat(parts).write_csv(), smk.output.table)
