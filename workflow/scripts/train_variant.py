"""Rule train_variant: one seed of one training variant, from the base with train_rl's settings and the
variant's changes; the model and its per-update log (reward, entropy, length, KL_old and weights)."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import tempfile

import polars as pl
from tokenshift.data.datasets import read_dataset
from tokenshift.files.atomic import atomic_dir
from tokenshift.files.parquet import write_text
from tokenshift.pipeline.rulectx import rule_context
from tokenshift.training.dapo import train_dapo

smk = snakemake  # noqa: F821
with rule_context(smk):
    data = read_dataset(smk.input.train)
    train = smk.params.train
    with atomic_dir(smk.output.model) as out, tempfile.TemporaryDirectory() as scratch:
        log = train_dapo(smk.input.init, data, smk.params.grader, train, out, scratch, smk.params.seed,
                         smk.params.device, smk.params.trust_remote_code, variant=smk.params.variant,
                         save_checkpoints=False)
    per_rollout = train["steps_per_generation"]
    rows = [{"step": int(h["step"]), "rollout_step": (int(h["step"]) - 1) // per_rollout,
             **{k: float(v) for k, v in h.items() if k != "step" and isinstance(v, int | float)}} for h in log]
    write_text(pl.DataFrame(rows).write_csv(), smk.output.metrics)
