"""Rule weight_gap: σ between each pair's base and tuned weights (the paper's Table 6), CSV and Markdown."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.analysis.weight_gap import weight_gap
from tokenshift.files.markdown import markdown_table
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

# Table 6 of the paper, printed beside this run's numbers.
PAPER = ("Paper, Table 6: Qwen2.5-32B RL 0.00143, SFT 0.00347; "
         "Qwen2.5-Math-7B RL 0.00136, SFT 0.00944.")

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    rows = []
    for pair in smk.params.pairs:
        gap = weight_gap(smk.input[f"{pair['name']}_base"], smk.input[f"{pair['name']}_tuned"])
        rows.append({"pair": pair["name"], "base": pair["base"], "tuned": pair["tuned"], "sigma": gap.sigma,
                     "abs_diff": gap.abs_diff, "abs_base": gap.abs_a, "abs_tuned": gap.abs_b,
                     "n_tensors": gap.n_tensors, "n_params": gap.n_params})
        print(f"{pair['name']}: sigma {gap.sigma:.6g} over {gap.n_params} parameters", file=log)
    df = pl.DataFrame(rows)
    write_text(df.write_csv(), smk.output.csv)
    md = markdown_table(["pair", "base", "tuned", "σ", "parameters"],
                        [[r["pair"], r["base"], r["tuned"], f"{r['sigma']:.5f}", r["n_params"]] for r in rows])
    write_text(f"{md}\n{PAPER}\n", smk.output.md)
