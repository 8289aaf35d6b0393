"""Rule prepare_dataset: one prompt set, loaded from its source, checked, with its prompts rendered.

The table (problem_id, problem, prompt, answer[, solution]) is what every later stage reads, so
a malformed dataset fails here, in one line, before any model runs.
"""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.data.loader import load_problems
from tokenshift.data.prompts import check_encodable, render_frame
from tokenshift.files.parquet import write_parquet
from tokenshift.models.loading import load_tokenizer
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    entry = smk.params.entry
    problems = load_problems(entry, smk.params.seed)
    tok = load_tokenizer(smk.input.tokenizer, smk.params.trust_remote_code) if "tokenizer" in smk.input.keys() else None
    table = render_frame(problems, entry["prompt"], tok)
    check_encodable(table["prompt"].to_list(), tok, entry["name"])  # a tokenizer without an unknown token
    write_parquet(table, smk.output.table, metadata={"dataset": entry["name"], "grader": entry["grader"]})
    print(f"{table.height} problems; first prompt: {table['prompt'][0]!r}", file=log)
