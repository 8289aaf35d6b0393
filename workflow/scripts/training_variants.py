"""Rule training_variants: the variants' Mean@n per seed (CSV) and in the paper's Table 2 form (Markdown, LaTeX),
with each run's share of updates whose KL_old was nonzero, from its per-update log."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.evaluation.variants import kl_old_nonzero_share, to_latex, to_markdown, variant_table
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    models = {name: (variant, seed) for name, variant, seed in smk.params.models}
    runs = sorted(set(models.values()))
    paths = dict(zip(map(tuple, smk.params.runs), smk.input.metrics))  # each run's per-update log
    shares = {run: kl_old_nonzero_share(pl.read_csv(paths[run])) for run in runs}
    table = variant_table(pl.read_csv(smk.input.accuracy), models, shares)
    write_text(table.write_csv(), smk.output.csv)
    write_text(to_markdown(table, smk.params.baseline), smk.output.md)
    write_text(to_latex(table, smk.params.baseline), smk.output.tex)
