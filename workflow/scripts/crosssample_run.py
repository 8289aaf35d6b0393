"""Rule crosssample_run: a budget sweep (targeted, or random at the targeted run's rate) for one
pair, dataset, direction and threshold."""

import polars as pl
import tokenshift
from tokenshift.crosssample import ChunkPolicy, CrossConfig, cross_sample_dataset, switch_rate
from tokenshift.crosssample.run import select_problems
from tokenshift.data.datasets import read_dataset
from tokenshift.files.parquet import write_parquet
from tokenshift.generation.sampler import SamplingParams
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    cs, s, w = smk.params.cs, smk.params.sampling, smk.wildcards
    rate = switch_rate(pl.read_parquet(smk.input.targeted)) if w.mode == "random" else None
    cfg = CrossConfig(float(w.eps), tuple(cs["budgets"]), cs["engine"], cs["noise"],
                      ChunkPolicy(cs["chunk"], cs["chunk_size"], cs["max_chunk"]), rate)
    data = select_problems(read_dataset(smk.input.dataset), cs["limit"])
    params = SamplingParams(smk.params.seed, s["temperature"], s["top_p"], s["max_new_tokens"])
    responses, switches, stats = cross_sample_dataset(
        smk.input.primary, smk.input.intervention, data, cs["n_samples"] or s["n_samples"], params, cfg,
        cs["batch_size"] or s["batch_size"], s["dtype"], smk.params.trust_remote_code, progress=log)
    meta = {"pair": w.pair, "dataset": w.dataset, "direction": w.direction, "mode": w.mode, "eps": float(w.eps),
            "budgets": list(cs["budgets"]), "random_rate": rate, "primary": str(smk.input.primary),
            "intervention": str(smk.input.intervention), "seed": smk.params.seed, "top_p": s["top_p"],
            "temperature": s["temperature"], "engine": cs["engine"], "noise": cs["noise"],
            "forward_passes": stats.full.passes + stats.forks.passes, "tokenshift_version": tokenshift.__version__}
    write_parquet(switches, smk.output.switches, metadata=meta)
    write_parquet(responses, smk.output.responses, metadata=meta)
