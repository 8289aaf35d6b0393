"""Rule train_rl: DAPO from the base model; final model plus intermediate checkpoints."""

from tokenshift.dapo import train_dapo
from tokenshift.datasets_io import read_dataset
from tokenshift.parquet_io import atomic_dir
from tokenshift.rulectx import rule_context
from tokenshift.task import problems_from_frame

smk = snakemake  # noqa: F821
with rule_context(smk):
    problems = problems_from_frame(read_dataset(smk.input.train))
    with atomic_dir(smk.output.model) as out, atomic_dir(smk.output.checkpoints) as ckpt:
        train_dapo(smk.input.init, problems, smk.params.train, out, ckpt, smk.params.seed)
