"""Rule crosssample_table: tables/crosssampling.csv, one row per sweep and budget.

Reads each sweep's responses and its switches table (for the handover positions of the tail
share), both in the order of the rule's ``runs``.
"""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.crosssample.tables import RESPONSE_COLUMNS, SWITCH_COLUMNS, summarize, with_handover
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821


with rule_context(smk):
    responses, switches = list(smk.input.responses), list(smk.input.switches)
    parts = [summarize(with_handover(pl.read_parquet(resp, columns=RESPONSE_COLUMNS),
                                     pl.read_parquet(sw, columns=SWITCH_COLUMNS)),
                       keys, smk.params.n_boot, smk.params.seed)
             for keys, resp, sw in zip(smk.params.runs, responses, switches, strict=True)]
    write_text(pl.concat(parts).write_csv(), smk.output.table)
