"""Dump benchmark: throughput against bare forward passes, and peak RSS vs response count.

    .venv/bin/python -m benchmarks.bench_dump [--responses 256] [--repeats 3] [--batch-size 32]
    .venv/bin/python -m benchmarks.bench_dump --base /tmp/smollm2 [--tuned DIR] [--responses 64]

Prints one JSON record per line and writes them to results/bench/dump.jsonl (with ``--base DIR``:
results/bench/dump_<name of DIR>.jsonl):
- ``dump_vs_forward``: dump tokens/s ÷ tokens/s of plain full-logit forward passes of the same two
  models on the same batches, timed alternately in this process (goal >= 0.85);
- ``dump_rss_growth``: peak RSS of a dump of 4x responses ÷ that of 1x (each in a fresh subprocess;
  goal: about 1, i.e. memory does not grow with the number of responses).

Models (every record names them in ``models`` and gives the vocabulary size in ``vocab``):
- default: a random organism-size pair (hidden 128, 4 layers, char vocabulary, seeds 0 and 1)
  built in a temporary directory every run, with organism-shaped responses (12-token prompts,
  20-60-token responses of digit/operator ids);
- ``--base DIR``: that model (a HF safetensors directory) as base, and ``--tuned DIR`` as tuned;
  without ``--tuned``, a seeded perturbed copy of the base built in a temporary directory
  (:func:`benchmarks.realmodels.perturbed_copy`). Responses are then shaped like a chat model's:
  prompts of 36-44 tokens and responses of 20-60 tokens ending in EOS, ids drawn uniformly from
  the real vocabulary (seeded). Such contexts are noise to a real model, whose next-token
  distributions there are nearly flat (nuclei of thousands of tokens);
- ``--responses-from model`` (with ``--base``): responses sampled by the base model itself from
  real chat prompts (temperature 1, top-p 0.9, at most 60 new tokens, seeded), which is what the
  pipeline dumps; the 2x and 4x sets of the RSS record repeat them under other problem ids.
  Records then go to results/bench/dump_<name of DIR>_sampled.jsonl.
Nothing else on disk changes what is measured: the dump's cost does not depend on the weights' values.
``--threads`` (default 2) sets torch's intra-op threads; ``--skip-rss`` gives the throughput record only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tokenshift.analysis.divergence import DivergenceConfig
from tokenshift.analysis.dump import (
    DumpOptions,
    bare_forward,
    batch_rows,
    correctness,
    dump_loaded,
    load_pair,
    make_batches,
)
from tokenshift.data.vocab import build_char_tokenizer
from tokenshift.generation.sampler import SamplingParams, sample_batch
from tokenshift.models.loading import build_tiny_llama, load_model, load_tokenizer

from benchmarks.realmodels import chat_prompts, perturbation_note, perturbed_copy
from benchmarks.records import OUT, emit

CFG = DivergenceConfig(top_p=0.9, extra_top_p=(0.7, 0.8))
MODELS = "random organism-size pair built in-process (hidden 128, 4 layers, char vocabulary, seeds 0 and 1)"


def make_models(root: Path) -> tuple[Path, Path]:
    tok = build_char_tokenizer()
    dirs = []
    for name, seed in (("base", 0), ("tuned", 1)):
        model = build_tiny_llama(tok, 128, 4, 4, 256, seed)
        model.save_pretrained(root / name)
        tok.save_pretrained(root / name)
        dirs.append(root / name)
    return dirs[0], dirs[1]


def make_responses(path: Path, n: int, seed: int = 0, vocab: int | None = None, eos: int = 2) -> Path:
    """Organism-shaped responses (12-token prompts, 20-60-token responses ending in EOS), or with
    ``vocab`` chat-shaped ones: 36-44-token prompts, 20-60-token responses, ids from the whole vocabulary."""
    rng = np.random.default_rng(seed)
    recs = []
    for i in range(n):
        if vocab is None:  # (draw order of the original organism benchmark)
            resp = rng.integers(3, 18, rng.integers(20, 60)).tolist() + [eos]
            prompt = [1] + rng.integers(3, 18, 11).tolist()
        else:
            prompt = rng.integers(0, vocab, rng.integers(36, 45)).tolist()
            resp = rng.integers(0, vocab, rng.integers(19, 60)).tolist() + [eos]
        recs.append({"problem_id": i // 8, "sample_idx": i % 8, "prompt_ids": prompt,
                     "response_ids": resp, "response_text": "", "finish_reason": "stop"})
    pl.DataFrame(recs).write_parquet(path)
    return path


def sample_pool(base: Path, n: int, seed: int = 0, batch_size: int = 32) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids) of ``n`` responses sampled by ``base`` (temperature 1, top-p 0.9, at most
    60 new tokens) to chat prompts (:func:`benchmarks.realmodels.chat_prompts`)."""
    tok, model = load_tokenizer(base), load_model(base)
    prompts = chat_prompts(tok, n, seed=seed)
    params = SamplingParams(seed, 1.0, 0.9, 60)
    pool = []
    for start in range(0, n, batch_size):
        part = list(range(start, min(n, start + batch_size)))
        outs = sample_batch(model, len(tok), [prompts[i] for i in part], torch.tensor(part),
                            torch.zeros(len(part), dtype=torch.long), params, tok.eos_token_id, tok.pad_token_id)
        pool += [(prompts[i], resp) for i, (resp, _) in zip(part, outs)]
    return pool


def write_pool(path: Path, pool: list[tuple[list[int], list[int]]], copies: int) -> Path:
    """The pool written ``copies`` times under distinct problem ids."""
    n = len(pool)
    rows = [{"problem_id": c * n + i, "sample_idx": 0, "prompt_ids": p, "response_ids": r, "response_text": "",
             "finish_reason": "stop"} for c in range(copies) for i, (p, r) in enumerate(pool)]
    pl.DataFrame(rows).write_parquet(path)
    return path


def throughput(base: Path, tuned: Path, responses: Path, out: Path, repeats: int, batch_size: int,
               models: str | dict) -> dict:
    opts = DumpOptions(batch_size=batch_size)
    pair = load_pair(base, tuned, opts)
    df = pl.read_parquet(responses)
    correct = correctness(df, None)
    batches = list(make_batches(df, batch_rows(df, batch_size), pair.tokenizer.pad_token_id or 0))
    n_tokens = sum(b.tokens.shape[0] for b in batches)
    dump_loaded(pair, df, out, CFG, opts, {}, correct)  # warm-up
    fwd, dmp = [], []
    for _ in range(repeats):
        t = time.perf_counter()
        for b in batches:
            bare_forward(pair, b)
        fwd.append(time.perf_counter() - t)
        t = time.perf_counter()
        dump_loaded(pair, df, out, CFG, opts, {}, correct)
        dmp.append(time.perf_counter() - t)
    f, d = float(np.median(fwd)), float(np.median(dmp))
    return {"name": "dump_vs_forward", "ratio": round(f / d, 4), "goal": ">= 0.85",
            "dump_tokens_per_s": round(n_tokens / d, 1), "forward_tokens_per_s": round(n_tokens / f, 1),
            "tokens": n_tokens, "responses": df.height, "batch_size": batch_size, "repeats": repeats,
            "threads": torch.get_num_threads(), "models": models, "vocab": pair.vocab}


def child_peak_rss(base: Path, tuned: Path, responses: Path, out: Path, batch_size: int, threads: int) -> int:
    """Peak RSS (KiB) of a fresh process that dumps ``responses``."""
    code = (f"import resource, sys, torch; torch.set_num_threads({threads}); "
            "from tokenshift.analysis.dump import run_dump, DumpOptions; "
            "from tokenshift.analysis.divergence import DivergenceConfig; "
            f"run_dump({str(base)!r}, {str(tuned)!r}, {str(responses)!r}, {str(out)!r}, "
            "DivergenceConfig(top_p=0.9, extra_top_p=(0.7, 0.8)), "
            f"DumpOptions(batch_size={batch_size})); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--responses", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--base", type=Path, help="base model directory (default: the random organism-size pair)")
    ap.add_argument("--tuned", type=Path, help="tuned model directory (default with --base: a perturbed copy)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-rss", action="store_true", help="only the dump_vs_forward record")
    ap.add_argument("--responses-from", choices=("random", "model"), default="random",
                    help="with --base: response ids drawn uniformly (default) or sampled by the base model")
    args = ap.parse_args()
    if args.tuned is not None and args.base is None:
        ap.error("--tuned needs --base")
    if args.responses_from == "model" and args.base is None:
        ap.error("--responses-from model needs --base")
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.base is None:
            base, tuned = make_models(root)
            models, vocab, eos = MODELS, None, 2
        else:
            base = args.base
            tuned = args.tuned or perturbed_copy(base, root / "tuned")
            models = {"base": str(base), "tuned": str(args.tuned) if args.tuned else perturbation_note(base)}
            tok = load_tokenizer(base)
            vocab, eos = len(tok), tok.eos_token_id
        if args.responses_from == "model":
            pool = sample_pool(base, args.responses)

            def responses(name: str, mult: int, seed: int) -> Path:
                return write_pool(root / name, pool, mult)
            shape = "sampled by the base model from chat prompts (temperature 1, top-p 0.9, <= 60 new tokens)"
        else:
            def responses(name: str, mult: int, seed: int) -> Path:
                return make_responses(root / name, args.responses * mult, seed=seed, vocab=vocab, eos=eos)
            shape = ("organism-shaped" if vocab is None else
                     "prompts of 36-44 and responses of 20-60 token ids drawn uniformly from the vocabulary")
        resp = responses("r.parquet", 1, 0)
        rec = throughput(base, tuned, resp, root / "d.parquet", args.repeats, args.batch_size, models)
        rec["responses_shape"] = shape
        records.append(rec)
        rss = {}
        for mult in () if args.skip_rss else (1, 2, 4):
            path = responses(f"r{mult}.parquet", mult, mult)
            rss[mult] = child_peak_rss(base, tuned, path, root / f"d{mult}.parquet", args.batch_size, args.threads)
        if rss:
            records.append({"name": "dump_rss_growth", "ratio": round(rss[4] / rss[1], 4), "goal": "~1 (<= 1.1)",
                            "peak_rss_mib": {f"{m}x": round(v / 1024, 1) for m, v in rss.items()},
                            "responses_1x": args.responses, "batch_size": args.batch_size,
                            "threads": args.threads, "models": models, "vocab": rec["vocab"],
                            "responses_shape": shape})
    name = "dump" if args.base is None else f"dump_{args.base.name}"
    emit(records, name if args.responses_from == "random" else f"{name}_sampled")


if __name__ == "__main__":
    main()
