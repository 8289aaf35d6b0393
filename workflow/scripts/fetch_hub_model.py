"""Rule fetch_hub_model: a hub id resolved once to a local snapshot, recorded in a reference file."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.files.atomic import atomic_file
from tokenshift.models.sources import fetch_hub_model
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    with atomic_file(smk.output.ref) as tmp:
        ref = fetch_hub_model(smk.params.hub, smk.params.revision, tmp)
    print(f"{ref['hub']} at revision {ref['revision']}: {ref['snapshot']}", file=log)
