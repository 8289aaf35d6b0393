"""Cross-sampling benchmarks: pass counts, wall-clock speed, sweep prefix sharing.

    .venv/bin/snakemake --cores 2 results/organism/models/base results/organism/models/rl  # once (make bench does it)
    .venv/bin/python -m benchmarks.bench_crosssample [--models results/organism/models] [--rows 32]
    .venv/bin/python -m benchmarks.bench_crosssample --base /tmp/smollm2 [--tuned DIR] [--repeats 3]

Prints one JSON record per line and writes them to results/bench/crosssample.jsonl (with
``--base DIR``: results/bench/crosssample_<name of DIR>.jsonl). Every
record names the models (``models``: primary and intervention) and the vocabulary size (``vocab``).

Models:
- default: the default config's trained base (primary) and RL (intervention) organism under
  ``--models``; without them the benchmark stops with a one-line error rather than measure
  something else. Prompts are organism problems (``--rows / 2`` problems, 2 samples each);
- ``--base DIR``: that model (a HF safetensors directory) is the primary and ``--tuned DIR`` the
  intervention; without ``--tuned``, a seeded perturbed copy of the base built in a temporary
  directory (:func:`benchmarks.realmodels.perturbed_copy`; noise on its last layers), so that
  switches happen. A model with a chat template gets real-text prompts ("What is a + b? Put your
  final answer within \\boxed{}." rendered with ``apply_chat_template``); one without gets the
  organism's problems.
``--threads`` (default 2) sets torch's intra-op threads; ``--no-sweep`` leaves out the
``sweep_speedup`` record, whose 9 runs per round dominate the time at a real model's size.

Every engine gets the same prompts, batch size, lengths, eps and (unlimited) budget:
- ``crosssample_passes``: sequential forward passes per token, step-by-step ÷ fast (counted, goal >= 1.3);
- ``crosssample_vs_naive``: wall tokens/s, fast ÷ step-by-step (goal >= 1.0), with the float32
  mismatch rate: the share of rows whose tokens differ between the engines in float32;
- ``crosssample_vs_sampling``: fast ÷ plain sampling tokens/s (goal >= 0.65 on the organism, >= 0.75 on
  a model given with ``--base``), step-by-step beside it,
  the draft-and-verify ceiling (1 - (1 - s)^g) / (s g) at the measured effective-switch rate s,
  and ``compute_ceiling``: plain sampling's time ÷ (that time + the intervention reading the same
  responses in verified chunks of the fast engine's mean size). Exact cross-sampling must compute
  the intervention's distribution wherever a switch is still possible, so on hardware where that
  reading is not free (a CPU, whose chunked passes cost a good part of a decoding step per token)
  no engine exceeds this ratio;
- ``sweep_speedup``: 8 budgets from one run with forks ÷ 8 independent runs (wall), with the ideal
  saving implied by the measured fork positions (tokens decoded).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from tokenshift.crosssample import CrossSpec, cross_sample_batch, sweep_batch
from tokenshift.data.organism import make_problems
from tokenshift.generation.sampler import SamplingParams, batches, encode_prompt, left_pad, sample_batch
from tokenshift.models.decoding import Decoder
from tokenshift.models.loading import load_model, load_tokenizer

from benchmarks.realmodels import chat_prompts, has_chat_template, perturbation_note, perturbed_copy
from benchmarks.records import emit

BUILD = ".venv/bin/snakemake --cores 2 results/organism/models/base results/organism/models/rl"
BUDGETS = [0, 1, 2, 4, 8, 16, 32, 64]


def cross_sample_parts(prim, inter, vocab, parts, spec: CrossSpec, eos: int, pad: int) -> tuple[list, list]:
    """Cross-sample every batch of ``parts`` ((prompt ids, problem ids, sample ids) each) with one spec: the
    responses in order and each batch's statistics."""
    res, stats = [], []
    for ids, pid, sid in parts:
        r, st = cross_sample_batch(prim, inter, vocab, ids, pid, sid, spec, eos, pad)
        res += r
        stats.append(st)
    return res, stats


def models(path: Path):
    """(tokenizer, base, rl, names) of the trained organism; exits with one line when it is missing."""
    dirs = {"primary": path / "base", "intervention": path / "rl"}
    missing = [str(d) for d in dirs.values() if not (d / "config.json").is_file()]
    if missing:
        sys.exit(f"bench_crosssample: no trained model in {', '.join(missing)}; build it with `{BUILD}` "
                 "(make bench does)")
    return (load_tokenizer(dirs["primary"]), load_model(dirs["primary"]), load_model(dirs["intervention"]),
            {k: str(d) for k, d in dirs.items()})


def given_models(base: Path, tuned: Path | None, tmp: Path):
    """(tokenizer, primary, intervention, names) from the command line; a perturbed copy without ``tuned``."""
    for d in (base, tuned):
        if d is not None and not (d / "config.json").is_file():
            sys.exit(f"bench_crosssample: no model in {d}")
    inter_dir = tuned or perturbed_copy(base, tmp / "intervention")
    names = {"primary": str(base), "intervention": str(tuned) if tuned else perturbation_note(base)}
    return load_tokenizer(base), load_model(base), load_model(inter_dir), names


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=Path, default=Path("results/organism/models"))
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--eps", type=float, default=0.05, help="JS threshold (default: the schema's, %(default)s)")
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--repeats", type=int, default=5, help="alternating rounds; the median is reported")
    ap.add_argument("--base", type=Path, help="primary model directory (default: the organism under --models)")
    ap.add_argument("--tuned", type=Path, help="intervention model directory (default with --base: a perturbed copy)")
    ap.add_argument("--chunk", choices=("fixed", "adaptive"), default="fixed", help="chunk policy of the fast engine")
    ap.add_argument("--chunk-size", type=int, default=8, help="tokens per chunk of the fixed policy")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-sweep", action="store_true", help="skip the sweep_speedup record (its 9 runs per round)")
    args = ap.parse_args()
    if args.tuned is not None and args.base is None:
        ap.error("--tuned needs --base")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        if args.base is None:
            tok, prim, inter, names = models(args.models)
        else:
            tok, prim, inter, names = given_models(args.base, args.tuned, Path(tmp))
    vocab, eos, pad = len(tok), tok.eos_token_id, tok.pad_token_id
    n_problems = args.rows // 2
    if args.base is not None and has_chat_template(tok):
        prompts, problem_ids = chat_prompts(tok, n_problems), list(range(n_problems))
    else:
        problems = make_problems(n_problems, seed=123, min_steps=3, max_steps=5)
        prompts, problem_ids = [encode_prompt(tok, p.prompt) for p in problems], [p.problem_id for p in problems]
    rows = [(i, s) for i in range(n_problems) for s in range(2)]
    params = SamplingParams(0, 1.0, args.top_p, args.max_new_tokens)
    unlimited = args.max_new_tokens
    spec = {e: CrossSpec(args.eps, (0, unlimited), params, engine=e, chunk=args.chunk, chunk_size=args.chunk_size)
            for e in ("fast", "naive")}
    sweep_spec = CrossSpec(args.eps, tuple(BUDGETS), params)
    parts = []
    for part in batches(rows, args.batch_size):
        parts.append(([prompts[i] for i, _ in part], torch.tensor([problem_ids[i] for i, _ in part]),
                      torch.tensor([s for _, s in part])))

    def cross(engine):
        return cross_sample_parts(prim, inter, vocab, parts, spec[engine], eos, pad)

    def plain():
        return [x for ids, pid, sid in parts for x in sample_batch(prim, vocab, ids, pid, sid, params, eos, pad)]

    def score(plain_out, g: int):
        """The intervention reading plain sampling's responses in chunks of ``g`` (prefill with the
        first): the verification work of an exact engine whose drafts are never rejected."""
        it = iter(plain_out)
        for ids, _, _ in parts:
            resp = [next(it)[0] for _ in ids]
            width = max(len(r) for r in resp)
            toks = torch.full((len(resp), width), pad, dtype=torch.long)
            valid = torch.zeros((len(resp), width), dtype=torch.bool)
            for i, r in enumerate(resp):
                toks[i, : len(r)], valid[i, : len(r)] = torch.tensor(r), True
            p_ids, p_mask = left_pad(ids, pad)
            dec = Decoder(inter, vocab)
            dec.prefill_extend(p_ids, p_mask, toks[:, :g], valid[:, :g])
            for start in range(g, width, g):
                dec.extend(toks[:, start:start + g], valid[:, start:start + g])

    def sweep():
        return [sweep_batch(prim, inter, vocab, ids, pid, sid, sweep_spec, eos, pad) for ids, pid, sid in parts]

    def independent():
        return [[cross_sample_batch(prim, inter, vocab, ids, pid, sid, spec["fast"], eos, pad, budget=b)
                 for b in BUDGETS] for ids, pid, sid in parts]

    timed = {"naive": lambda: cross("naive"), "fast": lambda: cross("fast"), "plain": plain}
    if not args.no_sweep:
        timed.update(sweep=sweep, independent=independent)
    times = {k: [] for k in timed}
    outs = {}
    with torch.no_grad():
        for _ in range(args.repeats):  # alternate, so background load hits every engine alike
            for k, f in timed.items():
                t = time.perf_counter()
                outs[k] = f()
                times[k].append(time.perf_counter() - t)
        chunks = [g for st in outs["fast"][1] for g in st.chunk_sizes]
        gamma = statistics.mean(chunks) if chunks else 0.0
        scored = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            score(outs["plain"], max(1, round(gamma)) if chunks else spec["fast"].chunk_size)
            scored.append(time.perf_counter() - t)
    sec = {k: statistics.median(v) for k, v in times.items()}
    sec["score"] = statistics.median(scored)
    naive_res, naive_st = outs["naive"]
    fast_res, fast_st = outs["fast"]
    tokens = sum(len(r.response_ids) for r in fast_res)
    same = sum(a.response_ids == b.response_ids for a, b in zip(naive_res, fast_res))
    steps = sum(s.steps for s in fast_st)
    ppt_naive = sum(s.passes for s in naive_st) / steps
    ppt_fast = sum(s.passes for s in fast_st) / steps
    s_rate = sum(r.n_effective for r in fast_res) / tokens
    all_rate = sum(r.n_switches for r in fast_res) / tokens
    ceiling = (1 - (1 - s_rate) ** gamma) / (s_rate * gamma) if s_rate > 0 and gamma else 1.0
    common = {"models": names, "vocab": vocab, "dtype": "float32", "threads": torch.get_num_threads(),
              "rows": len(rows),
              "batch_size": args.batch_size,
              "max_new_tokens": args.max_new_tokens, "eps": args.eps, "top_p": args.top_p, "budget": "unlimited",
              "tokens": tokens}
    tps = {k: tokens / sec[k] for k in ("naive", "fast")}
    plain_tokens = sum(len(x[0]) for x in outs["plain"])
    tps["plain"] = plain_tokens / sec["plain"]
    records = [
        {"name": "crosssample_passes", "ratio": ppt_naive / ppt_fast, "goal": ">= 1.3",
         "passes_per_token_naive": ppt_naive, "passes_per_token_fast": ppt_fast, "switch_rate_effective": s_rate,
         "switch_rate_all": all_rate, "mean_chunk": gamma, **common,
         "chunk_policy": f"{spec['fast'].chunk} (chunk_size {spec['fast'].chunk_size}, "
                         f"max_chunk {spec['fast'].max_chunk})"},
        {"name": "crosssample_vs_naive", "ratio": tps["fast"] / tps["naive"], "goal": ">= 1.0",
         "tokens_per_s_fast": tps["fast"], "tokens_per_s_naive": tps["naive"],
         "float32_mismatch_rate": (len(rows) - same) / len(rows), "float32_mismatch_rows": len(rows) - same,
         **common},
        {"name": "crosssample_vs_sampling", "ratio": tps["fast"] / tps["plain"],
         "goal": ">= 0.65" if args.base is None else ">= 0.75",
         "tokens_per_s_fast": tps["fast"],
         "naive_vs_sampling": tps["naive"] / tps["plain"], "ceiling": ceiling, "switch_rate_effective": s_rate,
         "mean_chunk": gamma, "tokens_per_s_plain": tps["plain"],
         "compute_ceiling": sec["plain"] / (sec["plain"] + sec["score"]),
         "seconds_plain": sec["plain"], "seconds_intervention_scoring": sec["score"], **common},
    ]
    if not args.no_sweep:
        # Sweep: tokens decoded with sharing vs without (ideal saving from the fork positions).
        indep_tokens = sum(len(r.response_ids) for batch in outs["independent"] for res, _ in batch for r in res)
        shared_tokens = sum(s.full.tokens + s.forks.tokens for _, s in outs["sweep"])
        n_forks = sum(s.n_forks for _, s in outs["sweep"])
        records.append(
            {"name": "sweep_speedup", "ratio": sec["independent"] / sec["sweep"], "goal": ">= 1.5",
             "budgets": BUDGETS, "ideal_saving": indep_tokens / shared_tokens, "tokens_independent": indep_tokens,
             "tokens_shared": shared_tokens, "n_forks": n_forks, "seconds_sweep": sec["sweep"],
             "seconds_independent": sec["independent"], **common})
    emit(records, "crosssample" if args.base is None else f"crosssample_{args.base.name}")


if __name__ == "__main__":
    main()
