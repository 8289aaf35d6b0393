"""Rule crosssample_table: tables/crosssampling.csv, one row per sweep and budget."""

import polars as pl
from tokenshift.crosssample.tables import summarize
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    parts = [summarize(pl.read_parquet(path), keys, smk.params.n_boot, smk.params.seed)
             for keys, path in zip(smk.params.runs, smk.input.responses)]
    write_text(pl.concat(parts).write_csv(), smk.output.table)
