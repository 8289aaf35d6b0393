"""Rule train_rl: DAPO from the base model on the training prompts; final model plus intermediate checkpoints."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.data.datasets import read_dataset
from tokenshift.files.atomic import atomic_dir
from tokenshift.pipeline.rulectx import rule_context
from tokenshift.training.dapo import train_dapo

smk = snakemake  # noqa: F821
with rule_context(smk):
    data = read_dataset(smk.input.train)
    # TRL writes checkpoint-<step> folders into one directory, the parent of the rule's checkpoint outputs
    with atomic_dir(smk.output.model) as out, atomic_dir(smk.params.checkpoint_root) as ckpt:
        train_dapo(smk.input.init, data, smk.params.grader, smk.params.train, out, ckpt, smk.params.seed,
                   smk.params.device, smk.params.trust_remote_code)
