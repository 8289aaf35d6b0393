"""Rule training_variants: the variants' Mean@n per seed (CSV) and in the paper's Table 2 form (Markdown, LaTeX)."""

import polars as pl
from tokenshift.evaluation.variants import to_latex, to_markdown, variant_table
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    models = {name: (variant, seed) for name, variant, seed in smk.params.models}
    table = variant_table(pl.read_csv(smk.input.accuracy), models)
    write_text(table.write_csv(), smk.output.csv)
    write_text(to_markdown(table, smk.params.baseline), smk.output.md)
    write_text(to_latex(table, smk.params.baseline), smk.output.tex)
