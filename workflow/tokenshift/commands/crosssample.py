"""``tokenshift crosssample``: generate with a primary model, switching to an intervention model
where their top-p distributions diverge (the rule's divergence > eps), up to a budget of switches."""

from __future__ import annotations

import argparse
import sys

import polars as pl

import tokenshift
from tokenshift.commands import add_device_option, check_output, set_schema_defaults
from tokenshift.crosssample import CHUNKS, ENGINES, NOISE, RULES, CrossSpec, cross_sample_dataset, switch_rate
from tokenshift.crosssample.run import read_prompts
from tokenshift.crosssample.spec import TAILS
from tokenshift.errors import UserError
from tokenshift.files.parquet import write_parquet
from tokenshift.generation.sampler import SamplingParams
from tokenshift.models.loading import load_tokenizer, shared_vocab_size

OUT_COLUMNS = ["problem_id", "sample_idx", "response_ids", "n_switches", "n_effective", "length", "finish_reason",
               "handover", "tail", "response_text", "correct"]


# Option dest -> the config key whose schema default it takes (crosssample.n_samples and batch_size are null
# in the schema, meaning the sampling values).
SCHEMA_KEYS = {
    "rule": "crosssample.rule", "engine": "crosssample.engine", "noise": "crosssample.noise",
    "samples": "sampling.n_samples", "limit": "crosssample.limit", "seed": "seed",
    "temperature": "sampling.temperature", "top_p": "sampling.top_p", "max_new_tokens": "sampling.max_new_tokens",
    "batch_size": "sampling.batch_size", "chunk": "crosssample.chunk", "chunk_size": "crosssample.chunk_size",
    "max_chunk": "crosssample.max_chunk", "dtype": "sampling.dtype", "device": "device", "tail": "crosssample.tail",
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("crosssample", help="cross-sample responses from two models (paper §3)",
                              description=__doc__)
    p.add_argument("--primary", required=True, help="primary model directory (draws by default)")
    p.add_argument("--intervention", required=True, help="intervention model directory (draws at switches)")
    p.add_argument("--prompts", required=True, help="Parquet with problem_id, prompt, answer")
    p.add_argument("--eps", type=float, required=True, help="threshold of the rule on top-p truncated distributions")
    p.add_argument("--budget", type=int, required=True, help="maximum number of switches per response")
    p.add_argument("--rule", choices=RULES.names(), help="switching rule (default: %(default)s)")
    p.add_argument("--engine", choices=ENGINES.names(), help="default: %(default)s")
    p.add_argument("--random", action="store_true",
                   help="random positions at the switch rate of the targeted run (measured first unless --rate)")
    p.add_argument("--rate", type=float, default=None, help="switch rate of the random baseline")
    p.add_argument("--noise", choices=NOISE.names(), help="default: %(default)s")
    p.add_argument("--samples", type=int, help="responses per prompt (default: %(default)s)")
    p.add_argument("--limit", type=int, help="first N problems only (default: all)")
    p.add_argument("--seed", type=int, help="default: %(default)s")
    p.add_argument("--temperature", type=float, help="default: %(default)s")
    p.add_argument("--top-p", type=float, help="default: %(default)s")
    p.add_argument("--max-new-tokens", type=int, help="default: %(default)s")
    p.add_argument("--batch-size", type=int, help="default: %(default)s")
    p.add_argument("--chunk", choices=CHUNKS.names(), help="default: %(default)s")
    p.add_argument("--chunk-size", type=int, help="fixed chunk size (default: %(default)s)")
    p.add_argument("--max-chunk", type=int, help="largest adaptive chunk (default: %(default)s)")
    p.add_argument("--dtype", help="weights dtype (default: %(default)s)")
    p.add_argument("--tail", choices=TAILS,
                   help="who decodes each row after its budget is spent: hf (every token keyed and reproducible) or "
                        "vllm (faster on a GPU; reproducible up to the handover only) (default: %(default)s)")
    add_device_option(p)
    p.add_argument("--out", required=True, help="output Parquet (not one of the inputs)")
    set_schema_defaults(p, SCHEMA_KEYS)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    # Every check a user can fail comes before any model is loaded: the spec's constructor.
    if args.rate is not None and not args.random:
        raise UserError("--rate only applies with --random")
    check_output(args.out, {"--primary": args.primary, "--intervention": args.intervention,
                            "--prompts": args.prompts})

    def spec(mode: str, rate: float | None) -> CrossSpec:
        return CrossSpec(
            eps=args.eps, budgets=(0, args.budget) if args.budget else (0,),
            sampling=SamplingParams(args.seed, args.temperature, args.top_p, args.max_new_tokens),
            engine=args.engine, rule=args.rule, noise=args.noise, chunk=args.chunk, chunk_size=args.chunk_size,
            max_chunk=args.max_chunk, mode=mode, random_rate=rate, n_samples=args.samples,
            batch_size=args.batch_size, limit=args.limit, dtype=args.dtype, device=args.device, tail=args.tail)

    targeted = spec("targeted", None)
    if args.random:
        spec("random", 0.0 if args.rate is None else args.rate)  # check before the targeted run
    shared_vocab_size(load_tokenizer(args.primary), load_tokenizer(args.intervention),
                      f"primary {args.primary}", f"intervention {args.intervention}")
    data = read_prompts(args.prompts)

    def run(s: CrossSpec):
        resp, _, stats = cross_sample_dataset(args.primary, args.intervention, data, s, progress=sys.stderr)
        return resp.filter(pl.col("budget") == args.budget), stats

    rate = args.rate
    if args.random and rate is None:
        rate = switch_rate(run(targeted)[0])
    final = spec("random", rate) if args.random else targeted
    resp, stats = run(final)
    write_parquet(resp.select(OUT_COLUMNS), args.out, metadata={
        "primary": args.primary, "intervention": args.intervention, "eps": final.eps, "budget": args.budget,
        "engine": final.engine, "rule": final.rule, "noise": final.noise, "random_rate": rate,
        "seed": final.sampling.seed, "top_p": final.sampling.top_p, "temperature": final.sampling.temperature,
        "tokenshift_version": tokenshift.__version__,
    })
    print(f"crosssample: {resp.height} responses, {int(resp['n_switches'].sum())} switches "
          f"({int(resp['n_effective'].sum())} effective), {stats.full.passes} forward passes -> {args.out}",
          file=sys.stderr)
