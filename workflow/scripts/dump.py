"""Rule dump: teacher-forced per-token table of one pair on one dataset's responses."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.analysis.divergence import DivergenceConfig
from tokenshift.analysis.dump import DumpOptions, run_dump
from tokenshift.files.shards import Shard
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    s = smk.params.settings
    cfg = DivergenceConfig(temperature=s["temperature"], top_p=s["top_p"], extra_top_p=tuple(s["extra_top_p"]),
                           chunk=s["chunk"])
    opts = DumpOptions(batch_size=s["batch_size"], dtype=s["dtype"], answer_marker=s["answer_marker"],
                       device=smk.params.device, trust_remote_code=smk.params.trust_remote_code,
                       shard=Shard(**smk.params.shard))
    summary = run_dump(smk.input.base, smk.input.tuned, smk.input.responses, smk.output.dump, cfg, opts,
                       correct_path=smk.input.correct, progress=log)
    print(f"{summary.n_positions} positions, {summary.n_empty} empty responses skipped", file=log)
