"""Rule generate: n samples per prompt from one model on one dataset, with the configured backend.

The body is guarded: vLLM on CPU starts its worker in a spawned process that imports this file.
"""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(globals().get("snakemake"))  # first: polars and BLAS size their thread pools when imported

import tokenshift
from tokenshift.data.datasets import read_dataset
from tokenshift.files.shards import Shard
from tokenshift.generation.sampler import SamplingParams, generate, write_responses
from tokenshift.generation.vllm_backend import VllmOptions, generate_vllm, import_vllm, start_engine
from tokenshift.models.device import resolve_device
from tokenshift.models.loading import load_model, load_tokenizer
from tokenshift.pipeline.rulectx import rule_context


def main(smk) -> None:
    with rule_context(smk) as log:
        s = smk.params.sampling
        if s["backend"] == "vllm":
            import_vllm()  # before any loading: a one-line error saying how to install it
        data = read_dataset(smk.input.dataset)
        trust = smk.params.trust_remote_code
        tok = load_tokenizer(smk.input.model, trust_remote_code=trust)
        params = SamplingParams(smk.params.seed, s["temperature"], s["top_p"], s["max_new_tokens"])
        prompts, ids = data["prompt"].to_list(), data["problem_id"].to_list()
        shard = Shard(**smk.params.shard)
        if s["backend"] == "vllm":
            llm = start_engine(smk.input.model, params.seed, s["dtype"], str(resolve_device(smk.params.device)),
                               VllmOptions(**s["vllm"]), trust)
            df = generate_vllm(llm, tok, prompts, ids, s["n_samples"], params, shard, s["batch_size"])
        else:
            model = load_model(smk.input.model, dtype=s["dtype"], device=smk.params.device, trust_remote_code=trust)
            df = generate(model, tok, prompts, ids, s["n_samples"], params, s["batch_size"], progress=log,
                          shard=shard)
        write_responses(df, smk.output.responses, tok, metadata={
            "model": str(smk.input.model), "seed": smk.params.seed, "temperature": s["temperature"],
            "top_p": s["top_p"], "max_new_tokens": s["max_new_tokens"], "backend": s["backend"],
            "tokenshift_version": tokenshift.__version__,
        })


if __name__ == "__main__":
    main(snakemake)  # noqa: F821
