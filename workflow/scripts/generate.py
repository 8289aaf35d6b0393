"""Rule generate: n keyed samples per prompt from one model on one dataset."""

import tokenshift
from tokenshift.data.datasets import read_dataset
from tokenshift.files.parquet import write_parquet
from tokenshift.generation.sampler import SamplingParams, generate
from tokenshift.models.loading import load_model, load_tokenizer
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    s = smk.params.sampling
    data = read_dataset(smk.input.dataset)
    tok = load_tokenizer(smk.input.model, trust_remote_code=smk.params.trust_remote_code)
    model = load_model(smk.input.model, dtype=s["dtype"], device=smk.params.device,
                       trust_remote_code=smk.params.trust_remote_code)
    params = SamplingParams(smk.params.seed, s["temperature"], s["top_p"], s["max_new_tokens"])
    df = generate(model, tok, data["prompt"].to_list(), data["problem_id"].to_list(), s["n_samples"], params,
                  s["batch_size"], progress=log)
    write_parquet(df, smk.output.responses, metadata={
        "model": str(smk.input.model), "seed": smk.params.seed, "temperature": s["temperature"],
        "top_p": s["top_p"], "max_new_tokens": s["max_new_tokens"], "tokenshift_version": tokenshift.__version__,
    })
