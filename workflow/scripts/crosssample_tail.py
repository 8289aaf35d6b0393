"""Rule crosssample_tail (crosssample.tail: vllm): decode every handed-over row of one sweep to its end
with a vLLM engine of the primary, then grade the sweep.

Contract with the rule: inputs handover (crosssample_run's rows up to their handover), primary, dataset;
params sampling (temperature, top_p, max_new_tokens, dtype, vllm), grader, seed, limit, device,
trust_remote_code. The body is guarded: vLLM on CPU starts its worker in a spawned process that imports
this file.
"""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(globals().get("snakemake"))  # first: polars and BLAS size their thread pools when imported

import polars as pl
from tokenshift.crosssample.run import grade_responses, select_problems
from tokenshift.crosssample.tail import REPRODUCIBILITY, decode_tails
from tokenshift.data.datasets import read_dataset
from tokenshift.files.parquet import read_metadata, write_parquet
from tokenshift.generation.sampler import SamplingParams
from tokenshift.generation.vllm_backend import VllmOptions
from tokenshift.pipeline.rulectx import rule_context


def main(smk) -> None:
    with rule_context(smk) as log:
        print(REPRODUCIBILITY, file=log)
        s = smk.params.sampling
        data = select_problems(read_dataset(smk.input.dataset), smk.params.limit)
        rows = pl.read_parquet(smk.input.handover)
        n = rows.filter(pl.col("finish_reason") == "handover").height
        print(f"{n} of {rows.height} rows to decode from their handover", file=log)
        rows = decode_tails(smk.input.primary, rows, data,
                            SamplingParams(smk.params.seed, s["temperature"], s["top_p"], s["max_new_tokens"]),
                            s["dtype"], smk.params.device, VllmOptions(**s["vllm"]), smk.params.trust_remote_code)
        write_parquet(grade_responses(rows, data, smk.params.grader), smk.output.responses,
                      metadata={**read_metadata(smk.input.handover), "tail": "vllm"})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
