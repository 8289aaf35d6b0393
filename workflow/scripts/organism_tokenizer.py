"""Rule organism_tokenizer: the model organism's character-level tokenizer (built locally, nothing downloaded)."""

from tokenshift.data.vocab import save_char_tokenizer
from tokenshift.files.atomic import atomic_dir
from tokenshift.pipeline.rulectx import rule_context

with rule_context(snakemake):  # noqa: F821
    with atomic_dir(snakemake.output.tokenizer) as tmp:  # noqa: F821
        save_char_tokenizer(tmp)
