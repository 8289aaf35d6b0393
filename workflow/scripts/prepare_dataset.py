"""Rule prepare_dataset: one prompt set, loaded from its source, checked, with its prompts rendered.

The table (problem_id, problem, prompt, answer[, solution]) is what every later stage reads, so
a malformed dataset fails here, in one line, before any model runs.
"""

from tokenshift.data.loader import load_problems
from tokenshift.data.prompts import render_frame
from tokenshift.files.parquet import write_parquet
from tokenshift.models.loading import load_tokenizer
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    entry = smk.params.entry
    problems = load_problems(entry, smk.params.seed)
    tok = load_tokenizer(smk.input.tokenizer, smk.params.trust_remote_code) if "tokenizer" in smk.input.keys() else None
    table = render_frame(problems, entry["prompt"], tok)
    write_parquet(table, smk.output.table, metadata={"dataset": entry["name"], "grader": entry["grader"]})
    print(f"{table.height} problems; first prompt: {table['prompt'][0]!r}", file=log)
