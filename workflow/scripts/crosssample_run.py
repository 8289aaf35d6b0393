"""Rule crosssample_run: a budget sweep (targeted, or random at the targeted run's rate) for one
pair, dataset, direction and threshold.

Contract with the rule: wildcards pair, dataset, direction, eps, mode (targeted | random);
inputs primary, intervention, dataset (and targeted, in random mode); params cs (budgets,
engine, noise, rule, chunk, chunk_size, max_chunk, n_samples, limit, batch_size, tail), sampling
(temperature, top_p, max_new_tokens, dtype), grader, seed, shard (index, count), device,
trust_remote_code. With tail = vllm its responses are each row up to its handover, ungraded (rule
crosssample_tail finishes them).
"""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import polars as pl
import tokenshift
from tokenshift.crosssample import CrossSpec, switch_rate
from tokenshift.crosssample.run import grade_responses, sweep_dataset
from tokenshift.data.datasets import read_dataset
from tokenshift.files.parquet import write_parquet
from tokenshift.files.shards import Shard
from tokenshift.generation.sampler import SamplingParams
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    cs, s, w = smk.params.cs, smk.params.sampling, smk.wildcards
    rate = switch_rate(pl.read_parquet(smk.input.targeted)) if w.mode == "random" else None
    spec = CrossSpec(
        eps=float(w.eps), budgets=tuple(cs["budgets"]),
        sampling=SamplingParams(smk.params.seed, s["temperature"], s["top_p"], s["max_new_tokens"]),
        engine=cs["engine"], rule=cs["rule"], noise=cs["noise"], chunk=cs["chunk"], chunk_size=cs["chunk_size"],
        max_chunk=cs["max_chunk"], mode=w.mode, random_rate=rate, n_samples=cs["n_samples"],
        batch_size=cs["batch_size"], limit=cs["limit"], grader=smk.params.grader, dtype=s["dtype"],
        device=smk.params.device, trust_remote_code=smk.params.trust_remote_code, tail=cs["tail"])
    data = read_dataset(smk.input.dataset)
    responses, switches, stats = sweep_dataset(smk.input.primary, smk.input.intervention, data, spec, progress=log,
                                               shard=Shard(**smk.params.shard))
    if spec.tail == "hf":
        responses = grade_responses(responses, data, spec.grader)
    else:
        handed = responses.filter(pl.col("tail") == "vllm")
        print(f"{handed.height} of {responses.height} rows handed over to the tail phase", file=log)
    meta = {"pair": w.pair, "dataset": w.dataset, "direction": w.direction, "mode": w.mode, "eps": spec.eps,
            "budgets": list(spec.budgets), "random_rate": rate, "primary": str(smk.input.primary),
            "intervention": str(smk.input.intervention), "seed": spec.sampling.seed, "top_p": spec.sampling.top_p,
            "temperature": spec.sampling.temperature, "engine": spec.engine, "rule": spec.rule, "noise": spec.noise,
            "tail": spec.tail, "tokenshift_version": tokenshift.__version__}
    print(f"{stats.full.passes + stats.forks.passes} sequential forward passes", file=log)
    write_parquet(switches, smk.output.switches, metadata=meta)
    write_parquet(responses, smk.output.responses, metadata=meta)
