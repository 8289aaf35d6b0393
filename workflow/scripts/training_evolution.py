"""Rule training_evolution: Fig. 29's table and figure from the checkpoints' dumps and accuracies."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.analysis.evolution import evolution_table
from tokenshift.figures.training import plot_evolution
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    accuracy = pl.read_csv(smk.input.accuracy)
    steps, datasets, high = smk.params.steps, smk.params.datasets, smk.params.high
    tables = []
    for i, dataset in enumerate(datasets):
        dumps = dict(zip(steps, smk.input.checkpoint_dumps[i * len(steps):(i + 1) * len(steps)]))
        tables.append(evolution_table(dumps, smk.input.final_dumps[i], accuracy, dataset, high))
    table = pl.concat(tables)
    print(table, file=log)
    write_text(table.write_csv(), smk.output.csv)
    plot_evolution(table, smk.output.pdf, smk.output.png, high)
