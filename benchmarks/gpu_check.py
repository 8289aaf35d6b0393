"""GPU check: sampling, cross-sampling and dump throughput, peak memory, and bf16 vs float32 decisions.

    make gpu-check                                   # one CUDA GPU, bfloat16 (a few minutes on one H100)
    .venv/bin/python -m benchmarks.gpu_check --tiny  # any CPU, in seconds: the same code on a tiny model

Nothing is downloaded. Models, built in a temporary directory every run:
- primary: a random Qwen2-style model of about 0.5B parameters (Qwen2Config: hidden 896, 24 layers,
  14 heads, 2 KV heads, intermediate 4864, tied embeddings) with a 151,936-token vocabulary (a
  character tokenizer, :func:`tokenshift.data.vocab.build_char_tokenizer`, over that many characters,
  so the organism's prompts encode); ``--tiny``: hidden 256, 4 layers, 4 heads, 2 KV heads,
  intermediate 1024, 8,192 tokens (about 6M parameters). A freshly initialised model's next-token
  distributions are nearly flat (logits of std ~0.6 over the vocabulary: top-p nuclei of most of
  it), so the final norm's weight is scaled until the logits' std over the vocabulary is 6 (``--tiny``:
  4): Gaussian logits of that spread have top-p 0.9 nuclei of tens of tokens, as a trained model's
  next-token distributions have at uncertain positions;
- intervention: :func:`benchmarks.realmodels.perturbed_copy` of the primary (seeded noise on the
  weight matrices of its last layers), as the other benchmarks' ``--base`` mode does.
Both are loaded with the library's ``load_model`` in ``--dtype`` (default bfloat16) on ``--device``
(default cuda; ``--tiny``: cpu). Prompts are organism problems (2 samples each).

Records (one JSON line each, printed and written to results/bench/gpu_check[_tiny].jsonl; every
record carries ``size``, ``device``, ``dtype``, ``models``, ``params``, ``vocab`` and the batch it used):
- ``gpu_check_sampling``: plain sampling (``sample_batch``) tokens/s;
- ``gpu_check_crosssample``: the fast and the step-by-step (``naive``) engines' tokens/s
  (``cross_sample_batch``, unlimited budget) and their ratios to plain sampling, timed in
  alternating rounds (median) after one warm-up round. ``eps`` is set so that ``--switch-rate`` of
  the positions of plain samples switch (the random pair's JS scale is arbitrary), unless ``--eps``;
- ``gpu_check_dump``: the dump's tokens/s (``dump_loaded``, from Parquet rows to a Parquet file)
  against bare full-logit forward passes of both models on the same batches (``bare_forward``);
  ``vocab_decode_s`` is the part of every dump spent decoding the vocabulary's texts once;
- ``gpu_check_memory``: peak GPU memory of each phase (``torch.cuda.max_memory_allocated``, reset
  before each; null on a CPU), the memory held when it started (models) and the batch it ran.
  The library has no batch planner, so the batch used is recorded (``planned_batch``: null);
- ``gpu_check_decisions``: the plain samples teacher-forced through both models in ``--dtype`` and
  in float32 (the same checkpoint loaded in float32), and at every response position the share
  where the top-p mask (support of the truncated distribution), the switch decision (JS > eps),
  the primary's and the intervention's keyed draws differ between the two. ``upcast_mismatches``
  counts positions where deciding from the ``--dtype`` logits differs from deciding from the same
  logits cast to float32 first (0: decisions are float32 functions of the logits).

Requirements: the project's install. Besides torch, transformers, safetensors and numpy, the
library's entry points import polars (the sampler module, at import time) and pyarrow (the dump
writes Parquet); snakemake is not imported.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import torch
from tokenizers import AddedToken
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
from tokenshift.crosssample import CrossSpec
from tokenshift.crosssample.context import Context
from tokenshift.data.organism import make_problems
from tokenshift.data.vocab import ALPHABET, build_char_tokenizer
from tokenshift.errors import UserError
from tokenshift.generation.sampler import SamplingParams, batches, encode_prompt, left_pad, sample_batch
from tokenshift.models.decoding import Decoder
from tokenshift.models.device import resolve_device
from tokenshift.models.loading import load_model, load_tokenizer
from transformers import Qwen2Config, Qwen2ForCausalLM

from benchmarks.bench_crosssample import cross_sample_parts
from benchmarks.realmodels import perturbation_note, perturbed_copy
from benchmarks.records import emit

SEED = 0
MIB = 1 << 20


@dataclass(frozen=True)
class Size:
    """A model shape and how much work each phase does."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    problems: int  # 2 samples each
    batch_size: int  # rows per sampling / cross-sampling batch
    max_new_tokens: int
    repeats: int
    dump_copies: int  # the dump reads the plain samples this many times (under distinct problem ids)
    dump_batch: int
    decision_batch: int  # rows per teacher-forced batch of the decisions phase
    logit_std: float  # std of the primary's logits over the vocabulary, set through the final norm's weight


FULL = Size(896, 24, 14, 2, 4864, 151_936, problems=16, batch_size=32, max_new_tokens=128, repeats=3,
            dump_copies=4, dump_batch=16, decision_batch=8, logit_std=6.0)
TINY = Size(256, 4, 4, 2, 1024, 8_192, problems=2, batch_size=2, max_new_tokens=16, repeats=1,
            dump_copies=2, dump_batch=4, decision_batch=4, logit_std=4.0)


def char_tokenizer(vocab: int):
    """The organism's character tokenizer grown to ``vocab`` tokens with further (arbitrary) characters.

    Its last token is Qwen2's ``<|endoftext|>``: AutoTokenizer loads a directory with a Qwen2 config
    with Qwen2's tokenizer class, which adds that token when it is missing (one token too many).
    """
    extra, code = [], 0x100
    while len(extra) < vocab - 4 - len(ALPHABET):
        if not 0xD800 <= code <= 0xDFFF:  # no surrogates
            extra.append(chr(code))
        code += 1
    tok = build_char_tokenizer(ALPHABET + "".join(extra))
    tok.add_tokens([AddedToken("<|endoftext|>", special=True)])
    assert len(tok) == vocab, (len(tok), vocab)
    return tok


@torch.no_grad()
def build_primary(size: Size, root: Path) -> Path:
    """A random Qwen2-style model of ``size`` (seeded) with its logits' std set to ``size.logit_std``, saved
    under ``root``."""
    tok = char_tokenizer(size.vocab)
    torch.manual_seed(SEED)
    cfg = Qwen2Config(vocab_size=size.vocab, hidden_size=size.hidden, intermediate_size=size.intermediate,
                      num_hidden_layers=size.layers, num_attention_heads=size.heads,
                      num_key_value_heads=size.kv_heads, max_position_embeddings=4096, tie_word_embeddings=True,
                      pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    model = Qwen2ForCausalLM(cfg).eval()
    ids = torch.randint(3, size.vocab, (4, 32), generator=torch.Generator().manual_seed(SEED))
    std = float(model(input_ids=ids).logits.float().std(dim=-1).mean())
    model.model.norm.weight.mul_(size.logit_std / std)
    out = root / "primary"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


class Phases:
    """Wall time (seconds per call) and, on CUDA, peak memory of named phases."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.peak: dict[str, int] = {}
        self.resident: dict[str, int] = {}

    def run(self, name: str, fn: Callable, timed: bool = True):
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            resident = torch.cuda.memory_allocated()
        t = time.perf_counter()
        out = fn()
        if self.cuda:
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        if timed:
            self.seconds[name].append(dt)
        if self.cuda:
            self.peak[name] = max(self.peak.get(name, 0), torch.cuda.max_memory_allocated())
            self.resident[name] = resident
        return out

    def median(self, name: str) -> float:
        return statistics.median(self.seconds[name])

    def mib(self, table: dict[str, int], name: str) -> float | None:
        return round(table[name] / MIB, 1) if name in table else None


def log(msg: str, t0: float) -> None:
    print(f"gpu_check [{time.perf_counter() - t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _decide(ctx: Context, lp: torch.Tensor, li: torch.Tensor, positions: torch.Tensor, keep: torch.Tensor) -> dict:
    """The engines' decisions at ``positions`` [B, W] from logits [B * W, V] of both models (valid ones only)."""
    tp, ti = ctx.truncated(lp), ctx.truncated(li)
    _, score = ctx.decide(tp, ti, positions)
    on_dev = keep.to(tp.device)
    return {"mask_p": (tp > 0)[on_dev], "mask_i": (ti > 0)[on_dev],
            "tok_p": ctx.draw(tp, ctx.uniforms(positions, intervention=False)).reshape(-1)[keep],
            "tok_i": ctx.draw(ti, ctx.uniforms(positions, intervention=True)).reshape(-1)[keep],
            "score": score.reshape(-1)[keep]}


def _teacher_forced(model: torch.nn.Module, vocab: int, prompt: tuple[torch.Tensor, torch.Tensor],
                    toks: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Logits [B * W, V] of ``model`` after each prompt and response prefix: column j predicts response token j,
    exactly as the decoder of generation and cross-sampling computes them."""
    return Decoder(model, vocab).prefill_extend(*prompt, toks, valid)[:, : toks.shape[1]].flatten(0, 1)


@torch.no_grad()
def decisions(lo: tuple, hi: tuple, vocab: int, prompts: list[list[int]], responses: list[list[int]],
              pids: torch.Tensor, sids: torch.Tensor, spec: CrossSpec, pad: int, batch: int) -> dict:
    """Per response position: the engines' decisions (truncation, draws, JS) from the (primary, intervention)
    models ``lo`` and ``hi``, teacher-forced on ``responses``; plus those from ``lo``'s logits cast to float32."""
    out = defaultdict(list)
    for rows in batches(list(range(len(prompts))), batch):
        prompt = left_pad([prompts[r] for r in rows], pad)
        width = max(len(responses[r]) for r in rows)
        toks = torch.full((len(rows), width), pad, dtype=torch.long)
        valid = torch.zeros((len(rows), width), dtype=torch.bool)
        for i, r in enumerate(rows):
            toks[i, : len(responses[r])] = torch.tensor(responses[r])
            valid[i, : len(responses[r])] = True
        positions = torch.arange(width).expand(len(rows), width)
        ctx = Context.build(spec.sampling, spec.switch_rule(), spec.intervention_stream, pids[rows], sids[rows])
        keep = valid.reshape(-1)
        lp, li = (_teacher_forced(m, vocab, prompt, toks, valid) for m in lo)
        d_lo = _decide(ctx, lp, li, positions, keep)
        d_up = _decide(ctx, lp.float(), li.float(), positions, keep)
        del lp, li
        d_hi = _decide(ctx, *(_teacher_forced(m, vocab, prompt, toks, valid) for m in hi), positions, keep)
        same = torch.ones(int(keep.sum()), dtype=torch.bool)
        for k in ("mask_p", "mask_i"):
            out[f"{k}_diff"].append((d_lo[k] != d_hi[k]).any(-1).cpu())
            same &= ~(d_lo[k] != d_up[k]).any(-1).cpu()
        for k in ("tok_p", "tok_i"):
            out[f"{k}_diff"].append(d_lo[k] != d_hi[k])
            same &= d_lo[k] == d_up[k]
        same &= d_lo["score"] == d_up["score"]
        out["upcast_same"].append(same)
        out["score_lo"].append(d_lo["score"])
        out["score_hi"].append(d_hi["score"])
        out["nucleus"].append(d_lo["mask_p"].sum(-1).cpu())
    return {k: torch.cat(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", action="store_true", help="a ~6M-parameter model and a handful of rows (CPU)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: cuda (--tiny: cpu)")
    ap.add_argument("--dtype", choices=("bfloat16", "float16", "float32"), default="bfloat16")
    ap.add_argument("--top-p", type=float, default=0.9)
    ap.add_argument("--eps", type=float, help="JS threshold (default: calibrated to --switch-rate)")
    ap.add_argument("--switch-rate", type=float, default=0.1,
                    help="share of positions of plain samples where JS > eps (default %(default)s)")
    ap.add_argument("--chunk", choices=("fixed", "adaptive"), default="fixed", help="fast engine's chunk policy")
    ap.add_argument("--repeats", type=int, help="timed rounds (default: 3; --tiny: 1)")
    ap.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's; --tiny: 1, which on a "
                    "busy machine with few cores is several times faster than more)")
    args = ap.parse_args()
    size = TINY if args.tiny else FULL
    repeats = args.repeats or size.repeats
    try:
        device = resolve_device(args.device or ("cpu" if args.tiny else "cuda"))
    except UserError as exc:
        sys.exit(f"gpu_check: {exc} (--tiny runs on a CPU)")
    if args.threads or args.tiny:
        torch.set_num_threads(args.threads or 1)
    t0 = time.perf_counter()
    phases = Phases(device)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prim_dir = build_primary(size, root)
        inter_dir = perturbed_copy(prim_dir, root / "intervention")
        log("models built", t0)
        tok = load_tokenizer(prim_dir)
        vocab, eos, pad = len(tok), tok.eos_token_id, tok.pad_token_id
        if vocab != size.vocab:
            sys.exit(f"gpu_check: the saved tokenizer loads with {vocab} tokens, not {size.vocab}")
        prim = load_model(prim_dir, args.dtype, device)
        inter = load_model(inter_dir, args.dtype, device)
        n_params = sum(p.numel() for p in prim.parameters())
        shape = (f"random Qwen2 (hidden {size.hidden}, {size.layers} layers, {size.heads} heads, {size.kv_heads} KV "
                 f"heads, intermediate {size.intermediate}, vocab {size.vocab}, tied embeddings, seed {SEED}, "
                 f"logit std {size.logit_std})")
        names = {"primary": shape, "intervention": perturbation_note("the primary")}

        problems = make_problems(size.problems, seed=123, min_steps=3, max_steps=5)
        prompts = [encode_prompt(tok, p.prompt) for p in problems]
        rows = [(i, s) for i in range(len(problems)) for s in range(2)]
        row_prompts = [prompts[i] for i, _ in rows]
        row_pids = torch.tensor([problems[i].problem_id for i, _ in rows])
        row_sids = torch.tensor([s for _, s in rows])
        parts = [([prompts[i] for i, _ in part], torch.tensor([problems[i].problem_id for i, _ in part]),
                  torch.tensor([s for _, s in part])) for part in batches(rows, size.batch_size)]
        params = SamplingParams(SEED, 1.0, args.top_p, size.max_new_tokens)

        def plain():
            return [x for ids, pid, sid in parts for x in sample_batch(prim, vocab, ids, pid, sid, params, eos, pad)]

        with torch.no_grad():
            samples = phases.run("plain", plain, timed=False)  # warm-up; its samples feed the later phases
        responses = [r for r, _ in samples]
        log("warm-up sampling done", t0)

        # Decisions: the same checkpoint in float32 beside the --dtype models, teacher-forced on the samples.
        spec0 = CrossSpec(0.0, (0, size.max_new_tokens), params)
        hi = (load_model(prim_dir, "float32", device), load_model(inter_dir, "float32", device))
        dec = decisions((prim, inter), hi, vocab, row_prompts, responses, row_pids, row_sids, spec0, pad,
                        size.decision_batch)
        del hi
        if device.type == "cuda":
            torch.cuda.empty_cache()
        score_lo, score_hi = dec["score_lo"].numpy(), dec["score_hi"].numpy()
        eps = args.eps if args.eps is not None else float(np.quantile(score_lo, 1.0 - args.switch_rate))
        log(f"decisions done (eps {eps:.4g})", t0)

        spec = {e: CrossSpec(eps, (0, size.max_new_tokens), params, engine=e, chunk=args.chunk)
                for e in ("fast", "naive")}

        def cross(engine):
            return cross_sample_parts(prim, inter, vocab, parts, spec[engine], eos, pad)

        timed = {"plain": plain, "naive": lambda: cross("naive"), "fast": lambda: cross("fast")}
        outs = {}
        with torch.no_grad():
            for k in ("naive", "fast"):
                phases.run(k, timed[k], timed=False)  # warm-up
            for _ in range(repeats):  # alternate, so background load hits every engine alike
                for k, f in timed.items():
                    outs[k] = phases.run(k, f)
        log("sampling and cross-sampling timed", t0)
        prim = inter = None  # free their memory before the dump loads its pair
        if device.type == "cuda":
            torch.cuda.empty_cache()

        # Dump of the plain samples, read dump_copies times, against bare forward passes.
        pool = [(row_prompts[i], r) for i, r in enumerate(responses)]
        n = len(pool)
        df = pl.DataFrame([{"problem_id": c * n + i, "sample_idx": 0, "prompt_ids": p, "response_ids": r,
                            "response_text": "", "finish_reason": "stop"}
                           for c in range(size.dump_copies) for i, (p, r) in enumerate(pool)])
        opts = DumpOptions(batch_size=size.dump_batch, dtype=args.dtype, device=device.type)
        pair = load_pair(prim_dir, inter_dir, opts)
        cfg = DivergenceConfig(top_p=args.top_p, extra_top_p=(0.7, 0.8))
        correct = correctness(df, None)
        dump_batches = list(make_batches(df, batch_rows(df, size.dump_batch), pad))
        dump_tokens = sum(b.tokens.shape[0] for b in dump_batches)
        out_path = root / "dump.parquet"

        def forward():
            for b in dump_batches:
                bare_forward(pair, b)

        def dump():
            dump_loaded(pair, df, out_path, cfg, opts, {}, correct)

        phases.run("dump", dump, timed=False)  # warm-up
        phases.run("forward", forward, timed=False)
        for _ in range(repeats):
            phases.run("forward", forward)
            phases.run("dump", dump)
        t = time.perf_counter()
        pair.tokenizer.batch_decode([[i] for i in range(vocab)])
        vocab_decode_s = time.perf_counter() - t
        log("dump timed", t0)

    # Records.
    plain_tokens = sum(len(r) for r, _ in outs["plain"])
    fast_res, fast_st = outs["fast"]
    naive_res, naive_st = outs["naive"]
    tokens = {"plain": plain_tokens, "fast": sum(len(r.response_ids) for r in fast_res),
              "naive": sum(len(r.response_ids) for r in naive_res)}
    tps = {k: tokens[k] / phases.median(k) for k in tokens}
    chunks = [g for st in fast_st for g in st.chunk_sizes]
    steps = sum(s.steps for s in fast_st)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    common = {"size": "tiny" if args.tiny else "full", "device": device_name, "dtype": args.dtype, "models": names,
              "params": n_params, "vocab": vocab, "threads": torch.get_num_threads(), "rows": len(rows),
              "batch_size": size.batch_size, "max_new_tokens": size.max_new_tokens, "top_p": args.top_p,
              "repeats": repeats}
    eps_from = "--eps" if args.eps is not None else \
        f"calibrated: JS > eps at {args.switch_rate} of plain samples' positions"
    n_pos = len(score_lo)
    records = [
        {"name": "gpu_check_sampling", "goal": "none (a measurement)", "tokens_per_s": tps["plain"],
         "tokens": plain_tokens, "seconds": phases.median("plain"), "peak_mib": phases.mib(phases.peak, "plain"),
         **common},
        {"name": "gpu_check_crosssample", "ratio": tps["fast"] / tps["plain"], "goal": "none (a measurement)",
         "fast_vs_sampling": tps["fast"] / tps["plain"], "naive_vs_sampling": tps["naive"] / tps["plain"],
         "fast_vs_naive": tps["fast"] / tps["naive"], "tokens_per_s_fast": tps["fast"],
         "tokens_per_s_naive": tps["naive"], "tokens_per_s_plain": tps["plain"],
         "tokens_fast": tokens["fast"], "tokens_naive": tokens["naive"],
         "same_rows_fast_naive": sum(a.response_ids == b.response_ids for a, b in zip(fast_res, naive_res)),
         "switch_rate_effective": sum(r.n_effective for r in fast_res) / tokens["fast"],
         "switch_rate_all": sum(r.n_switches for r in fast_res) / tokens["fast"],
         "passes_per_token_fast": sum(s.passes for s in fast_st) / steps,
         "passes_per_token_naive": sum(s.passes for s in naive_st) / sum(s.steps for s in naive_st),
         "mean_chunk": statistics.mean(chunks) if chunks else 0.0,
         "chunk_policy": f"{spec['fast'].chunk} (chunk_size {spec['fast'].chunk_size}, "
                         f"max_chunk {spec['fast'].max_chunk})",
         "eps": eps, "eps_from": eps_from, "budget": "unlimited",
         "peak_mib": {k: phases.mib(phases.peak, k) for k in ("fast", "naive")}, **common},
        {"name": "gpu_check_dump", "ratio": phases.median("forward") / phases.median("dump"),
         "goal": "none (a measurement)",
         "dump_tokens_per_s": dump_tokens / phases.median("dump"),
         "forward_tokens_per_s": dump_tokens / phases.median("forward"), "tokens": dump_tokens,
         "responses": df.height, "dump_batch_size": size.dump_batch, "vocab_decode_s": vocab_decode_s,
         "peak_mib": {k: phases.mib(phases.peak, k) for k in ("dump", "forward")}, **common},
        {"name": "gpu_check_memory", "goal": "none (a measurement)",
         "peak_mib": {k: phases.mib(phases.peak, k) for k in ("plain", "naive", "fast", "dump", "forward")},
         "resident_mib": {k: phases.mib(phases.resident, k) for k in ("plain", "naive", "fast", "dump", "forward")},
         "batch": {"plain": size.batch_size, "naive": size.batch_size, "fast": size.batch_size,
                   "dump": size.dump_batch, "forward": size.dump_batch},
         "planned_batch": None, "batch_planner": "none in the library: the batches used are recorded",
         "memory": "torch.cuda.max_memory_allocated, reset before each phase (null on a CPU)", **common},
        {"name": "gpu_check_decisions", "goal": "upcast_mismatches == 0", "positions": n_pos,
         "reference": f"the same checkpoint loaded in float32 ({args.dtype} weights and logits vs float32 ones)",
         "mask_mismatch_rate": float(dec["mask_p_diff"].double().mean()),
         "mask_mismatch_rate_intervention": float(dec["mask_i_diff"].double().mean()),
         "switch_mismatch_rate": float(np.mean((score_lo > eps) != (score_hi > eps))),
         "token_mismatch_rate": float(dec["tok_p_diff"].double().mean()),
         "token_mismatch_rate_intervention": float(dec["tok_i_diff"].double().mean()),
         "js_max_abs_diff": float(np.max(np.abs(score_lo - score_hi))),
         "switch_rate": float(np.mean(score_lo > eps)), "eps": eps, "eps_from": eps_from,
         "nucleus_median": float(dec["nucleus"].double().median()),
         "upcast_mismatches": int((~dec["upcast_same"]).sum()), **common},
    ]
    for r in records:
        for k, v in r.items():
            if isinstance(v, float) and math.isfinite(v):
                r[k] = round(v, 6)
    emit(records, "gpu_check_tiny" if args.tiny else "gpu_check")
    log("done", t0)


if __name__ == "__main__":
    main()
