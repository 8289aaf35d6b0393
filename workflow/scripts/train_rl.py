"""Rule train_rl: DAPO from the base model; final model plus intermediate checkpoints."""

from tokenshift.data.datasets import read_dataset
from tokenshift.data.organism import problems_from_frame
from tokenshift.files.atomic import atomic_dir
from tokenshift.pipeline.rulectx import rule_context
from tokenshift.training.dapo import train_dapo

smk = snakemake  # noqa: F821
with rule_context(smk):
    problems = problems_from_frame(read_dataset(smk.input.train))
    with atomic_dir(smk.output.model) as out, atomic_dir(smk.output.checkpoints) as ckpt:
        train_dapo(smk.input.init, problems, smk.params.train, out, ckpt, smk.params.seed)
