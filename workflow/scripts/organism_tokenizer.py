"""Rule organism_tokenizer: the model organism's character-level tokenizer (built locally, nothing downloaded)."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.data.vocab import save_char_tokenizer
from tokenshift.files.atomic import atomic_dir
from tokenshift.pipeline.rulectx import rule_context

with rule_context(snakemake):  # noqa: F821
    with atomic_dir(snakemake.output.tokenizer) as tmp:  # noqa: F821
        save_char_tokenizer(tmp)
