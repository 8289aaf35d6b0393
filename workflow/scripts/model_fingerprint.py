"""Rule model_fingerprint: the model's content digest (computed when the workflow was planned), written once."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.files.atomic import atomic_file
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log, atomic_file(smk.output[0]) as tmp:
    tmp.write_text(f"{smk.params.digest}\n")
    print(f"content digest {smk.params.digest}", file=log)
