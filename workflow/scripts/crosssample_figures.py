"""Rule crosssample_figures: accuracy vs budget, targeted vs random, switched token pairs (one pair, dataset)."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.figures.crosssample import (
    plot_accuracy_vs_budget,
    plot_targeted_vs_random,
    plot_token_pairs,
    token_pair_counts,
)
from tokenshift.models.loading import load_tokenizer
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    w, p = smk.wildcards, smk.params.pair
    table = pl.read_csv(smk.input.table).filter((pl.col("pair") == w.pair) & (pl.col("dataset") == w.dataset))
    acc = {r["model"]: r["mean_at_n"] for r in pl.read_csv(smk.input.accuracy).iter_rows(named=True)
           if r["dataset"] == w.dataset}
    base_acc, tuned_acc = acc.get(p["base"]), acc.get(p["tuned"])
    title = f"{w.pair}: {p['base']} → {p['tuned']} on {w.dataset}"
    plot_accuracy_vs_budget(table, base_acc, tuned_acc, p["tuned"], smk.output.accuracy_pdf, smk.output.accuracy_png,
                            title)
    plot_targeted_vs_random(table, base_acc, tuned_acc, p["tuned"], smk.output.random_pdf, smk.output.random_png,
                            title)
    tok = load_tokenizer(smk.input.tokenizer)
    pairs = {d: token_pair_counts(pl.read_parquet(f), lambda i: tok.decode([i]), smk.params.top)
             for d, f in zip(smk.params.directions, smk.input.switches)}
    plot_token_pairs(pairs, smk.output.pairs_pdf, smk.output.pairs_png, title)
