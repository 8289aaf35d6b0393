"""Rule figure_<name>: one shift figure (PDF + PNG) from its statistics tables."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.analysis.statistics import StatsParams
from tokenshift.figures.shift import render
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    s = dict(smk.params.stats)
    params = StatsParams(**{**s, "tail_thresholds": tuple(s["tail_thresholds"])})
    tables = {name: pl.read_parquet(path) for name, path in zip(smk.params.table_names, smk.input.tables)}
    render(smk.params.figure, tables, list(smk.params.primary), list(smk.params.compare), params,
           smk.output.pdf, smk.output.png, models=smk.params.models,
           datasets=list(smk.params.datasets))
