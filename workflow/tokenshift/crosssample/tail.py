"""The tail phase of a two-phase sweep (``crosssample.tail: vllm``): vLLM decodes what follows each handover.

After the handover a row is plain sampling from the primary at the sweep's temperature, top-p and
length limit, which vLLM serves far faster than the keyed HF engine on a GPU. Each row is one
request whose prompt is the row's prompt ids followed by its tokens so far, seeded per (seed,
problem, sample, budget). What this changes: tokens up to the handover are the ``tail: hf``
sweep's, token for token; the tail is another draw from the same distribution (vLLM's noise
and kernels), reproducible only with the same vLLM version, hardware and batch.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import torch

from tokenshift.errors import UserError
from tokenshift.generation.sampler import SamplingParams, encode_prompt
from tokenshift.generation.vllm_backend import (
    VllmOptions,
    finish_reason,
    import_vllm,
    request_params,
    request_seed,
    start_engine,
)
from tokenshift.models.device import resolve_device
from tokenshift.models.loading import load_tokenizer

if TYPE_CHECKING:  # vLLM is optional: imported where it runs
    from transformers import PreTrainedTokenizerBase
    from vllm import LLM

KEY = "crosssample.tail: vllm"
REPRODUCIBILITY = ("crosssample.tail: vllm: a rerun reproduces every row up to its handover token for token; "
                   "the tail after it only in distribution (vLLM's own noise and kernels)")


def complete_tails(llm: LLM, tokenizer: PreTrainedTokenizerBase, responses: pl.DataFrame,
                   prompt_ids: dict[int, list[int]], params: SamplingParams) -> pl.DataFrame:
    """``responses`` with every ``handover`` row decoded to its end by ``llm`` (``tail`` = vllm); other rows
    as they are. ``prompt_ids`` maps each problem to its encoded prompt (the primary's tokenizer)."""
    from vllm.inputs import TokensPrompt

    todo = responses.with_row_index("_row").filter(pl.col("finish_reason") == "handover")
    if todo.height == 0:
        return responses
    eos = tokenizer.eos_token_id
    requests, sampling = [], []
    for r in todo.iter_rows(named=True):
        prefix = r["response_ids"]
        if len(prefix) != r["handover"] or len(prefix) >= params.max_new_tokens or (prefix and prefix[-1] == eos):
            raise UserError(f"handover table: problem {r['problem_id']} sample {r['sample_idx']} budget {r['budget']} "
                            f"has {len(prefix)} tokens at handover {r['handover']}: not a row to continue")
        requests.append(TokensPrompt(prompt_token_ids=prompt_ids[r["problem_id"]] + prefix))
        seed = request_seed(params.seed, r["problem_id"], r["sample_idx"], "tail", r["budget"])
        sampling.append(request_params(params, params.max_new_tokens - len(prefix), eos, seed))
    outputs = llm.generate(requests, sampling)
    ids = [r["response_ids"] + list(out.outputs[0].token_ids) for r, out in zip(todo.iter_rows(named=True), outputs)]
    done = todo.select("_row").with_columns(
        pl.Series("response_ids", ids, pl.List(pl.Int64)),
        pl.Series("response_text", [tokenizer.decode(x, skip_special_tokens=True) for x in ids], pl.String),
        pl.Series("length", [len(x) for x in ids], pl.Int64),
        pl.Series("finish_reason", [finish_reason(x, eos) for x in ids], pl.String),
        pl.lit("vllm").alias("tail"),
    )
    out = responses.with_row_index("_row").update(done, on="_row")
    return out.drop("_row").select(responses.columns)


def decode_tails(primary_dir: str | Path, responses: pl.DataFrame, data: pl.DataFrame, params: SamplingParams,
                 dtype: str, device: str = "auto", options: VllmOptions | None = None,
                 trust_remote_code: bool = False) -> pl.DataFrame:
    """:func:`complete_tails` with a vLLM engine of the primary started here (none if no row was handed over);
    ``data`` holds the sweep's prompts."""
    import_vllm(KEY)  # before any loading: one line saying how to install it
    if responses.filter(pl.col("finish_reason") == "handover").height == 0:
        return responses
    tok = load_tokenizer(primary_dir, trust_remote_code)
    prompts = {pid: encode_prompt(tok, p) for pid, p in zip(data["problem_id"].to_list(), data["prompt"].to_list())}
    # Called right after the budget phase (the CLI runs both in one process): the HF models are gone, but
    # the CUDA allocator keeps their memory cached, and vLLM sizes its KV cache from what is free.
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    llm = start_engine(primary_dir, params.seed, dtype, str(resolve_device(device)), options or VllmOptions(),
                       trust_remote_code)
    return complete_tails(llm, tok, responses, prompts, params)
