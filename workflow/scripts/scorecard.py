"""Rule scorecard: every claim of the paper judged on this run's tables."""

from tokenshift.analysis.scorecard import Inputs, read_optional, scorecard, to_markdown
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    tables = {key: read_optional(smk.input.get(key)) for key in
              ("summary", "position", "entropy", "targets", "crosssampling", "evolution", "weight_gap", "variants")}
    card = scorecard(Inputs(**smk.params.roles, **tables))
    print(card.select("id", "verdict", "this_run"), file=log)
    write_text(card.write_csv(), smk.output.csv)
    write_text(to_markdown(card), smk.output.md)
