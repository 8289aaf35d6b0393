"""Rule viewer: the token viewer page of one pair on one dataset (and its cross-sampling runs, if any)."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.figures.viewer import DUMP_COLUMNS, dump_responses, switch_responses, write_viewer
from tokenshift.models.loading import load_tokenizer
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    p = smk.params
    views = [{"name": "JS per token", "kind": "dump",
              "responses": dump_responses(pl.read_parquet(smk.input.dump, columns=DUMP_COLUMNS), p.limit)}]
    for direction, eps in p.sweeps:
        responses = pl.read_parquet(smk.input[f"{direction}_responses"])
        switches = pl.read_parquet(smk.input[f"{direction}_switches"])
        views.append({"name": f"{direction} cross-sampling (eps {eps})", "kind": "switches",
                      "responses": switch_responses(responses, switches, p.limit)})
    tok = load_tokenizer(smk.input.tokenizer, p.trust_remote_code)
    write_viewer(smk.output.html, p.title, p.subtitle, views, lambda i: tok.decode([i]), p.high)
    print(f"{len(views)} views, {sum(len(v['responses']) for v in views)} responses", file=log)
