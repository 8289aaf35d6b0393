"""Rules merge_*: one stage's shard parts, concatenated in shard order into the file one job would write.

Contract with the rules: for each named output, input of the same name lists its parts in
shard order, and params ``layout`` says per output whether row groups are kept and how rows
are sorted (see tokenshift.files.shards.merge_parts).
"""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.files.shards import merge_parts
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    for name, out in smk.output.items():
        layout = smk.params.layout[name]
        n = merge_parts(smk.input[name], out, row_groups=layout["row_groups"], sort_by=layout["sort_by"])
        print(f"{name}: {len(smk.input[name])} parts, {n} rows -> {out}", file=log)
