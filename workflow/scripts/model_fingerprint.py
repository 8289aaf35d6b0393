"""Rule model_fingerprint: the model's content digest (computed when the workflow was planned), written once."""

from tokenshift.files.atomic import atomic_file
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log, atomic_file(smk.output[0]) as tmp:
    tmp.write_text(f"{smk.params.digest}\n")
    print(f"content digest {smk.params.digest}", file=log)
