"""Rule accuracy_table: Mean@n with 95% bootstrap CIs per model and dataset."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.evaluation.accuracy import mean_at_n
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    rows = []
    for model, dataset, path in zip(smk.params.models, smk.params.datasets, smk.input.scores):
        stats = mean_at_n(pl.read_parquet(path), smk.params.n_boot, smk.params.seed)
        rows.append({"model": model, "dataset": dataset, **stats})
    write_text(pl.DataFrame(rows).write_csv(), smk.output.table)
