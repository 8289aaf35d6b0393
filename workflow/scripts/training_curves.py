"""Rule training_curves: every variant's per-update log, drawn against rollout steps."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.figures.training import plot_training_curves
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    runs = [pl.read_csv(path).with_columns(pl.lit(variant).alias("variant"), pl.lit(seed).alias("seed"))
            for path, (variant, seed) in zip(smk.input.metrics, smk.params.runs)]
    plot_training_curves(pl.concat(runs, how="diagonal_relaxed"), smk.output.pdf, smk.output.png)
