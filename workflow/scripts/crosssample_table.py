"""Rule crosssample_table: tables/crosssampling.csv and Table 1/3 (CSV, Markdown, LaTeX)."""

import polars as pl
from tokenshift.crosssample.tables import summarize, target_table, to_latex, to_markdown
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    parts = [summarize(pl.read_parquet(path), keys, smk.params.n_boot, smk.params.seed)
             for keys, path in zip(smk.params.runs, smk.input.responses)]
    table = pl.concat(parts)
    write_text(table.write_csv(), smk.output.table)
    targets = target_table(table, pl.read_csv(smk.input.accuracy), smk.params.pairs, smk.params.tolerance)
    write_text(targets.write_csv(), smk.output.targets_csv)
    write_text(to_markdown(targets), smk.output.targets_md)
    write_text(to_latex(targets), smk.output.targets_tex)
