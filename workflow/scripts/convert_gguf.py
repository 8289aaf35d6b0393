"""Rule convert_gguf: a GGUF model (a file, or one shipped inside a Python package) to safetensors."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.files.atomic import atomic_dir
from tokenshift.models.sources import convert_gguf, locate_gguf
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    path = locate_gguf(smk.params.gguf)
    with atomic_dir(smk.output.model) as tmp:
        convert_gguf(path, tmp)
    print(f"converted {path}", file=log)
