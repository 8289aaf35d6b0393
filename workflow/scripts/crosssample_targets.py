"""Rule crosssample_targets: Table 1/3 (CSV, Markdown, LaTeX), the smallest budget reaching each target."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.crosssample.tables import target_table, to_latex, to_markdown
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    names = {c: pl.String for c in ("pair", "dataset", "direction", "mode")}
    table = pl.read_csv(smk.input.table, schema_overrides=names)
    accuracy = pl.read_csv(smk.input.accuracy, schema_overrides={"model": pl.String, "dataset": pl.String})
    targets = target_table(table, accuracy, smk.params.pairs, smk.params.tolerance)
    write_text(targets.write_csv(), smk.output.csv)
    write_text(to_markdown(targets), smk.output.md)
    write_text(to_latex(targets), smk.output.tex)
