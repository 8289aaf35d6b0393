"""Rule scorecard: every claim of the paper judged on this run's tables and per-problem scores."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.analysis.scorecard import Inputs, read_optional, read_scores, scorecard, to_markdown
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    tables = {key: read_optional(smk.input.get(key)) for key in
              ("summary", "position", "entropy", "targets", "crosssampling", "evolution", "weight_gap", "variants")}
    paths = smk.input.get("scores", [])  # one scores file per model of params.score_models, on the first dataset
    scores = read_scores(list(smk.params.get("score_models", [])), [paths] if isinstance(paths, str) else list(paths))
    card = scorecard(Inputs(**smk.params.roles, **tables, scores=scores))
    print(card.select("id", "verdict", "why"), file=log)
    write_text(card.write_csv(), smk.output.csv)
    write_text(to_markdown(card), smk.output.md)
