"""``tokenshift crosssample``: generate with a primary model, switching to an intervention model
where their top-p distributions diverge (the rule's divergence > eps), up to a budget of switches."""

from __future__ import annotations

import argparse
import sys

import polars as pl

import tokenshift
from tokenshift.crosssample import CHUNKS, ENGINES, NOISE, RULES, CrossSpec, cross_sample_dataset, switch_rate
from tokenshift.data.datasets import read_dataset
from tokenshift.errors import UserError
from tokenshift.files.parquet import write_parquet
from tokenshift.generation.sampler import SamplingParams
from tokenshift.models.loading import load_tokenizer, shared_vocab_size
from tokenshift.pipeline.config import schema_default

OUT_COLUMNS = ["problem_id", "sample_idx", "response_ids", "n_switches", "n_effective", "length", "finish_reason",
               "response_text", "correct"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("crosssample", help="cross-sample responses from two models (paper §3)",
                              description=__doc__)
    p.add_argument("--primary", required=True, help="primary model directory (draws by default)")
    p.add_argument("--intervention", required=True, help="intervention model directory (draws at switches)")
    p.add_argument("--prompts", required=True, help="Parquet with problem_id, prompt, answer")
    p.add_argument("--eps", type=float, required=True, help="threshold of the rule on top-p truncated distributions")
    p.add_argument("--budget", type=int, required=True, help="maximum number of switches per response")
    # Defaults are the schema's (config/schema.yaml), so the CLI computes what the pipeline does.
    p.add_argument("--rule", choices=RULES.names(), default=schema_default("crosssample.rule"),
                   help="switching rule (default: %(default)s)")
    p.add_argument("--engine", choices=ENGINES.names(), default=schema_default("crosssample.engine"),
                   help="default: %(default)s")
    p.add_argument("--random", action="store_true",
                   help="random positions at the switch rate of the targeted run (measured first unless --rate)")
    p.add_argument("--rate", type=float, default=None, help="switch rate of the random baseline")
    p.add_argument("--noise", choices=NOISE.names(), default=schema_default("crosssample.noise"),
                   help="default: %(default)s")
    p.add_argument("--samples", type=int, default=schema_default("sampling.n_samples"),
                   help="responses per prompt (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="first N problems only")
    p.add_argument("--seed", type=int, default=schema_default("seed"), help="default: %(default)s")
    p.add_argument("--temperature", type=float, default=schema_default("sampling.temperature"),
                   help="default: %(default)s")
    p.add_argument("--top-p", type=float, default=schema_default("sampling.top_p"), help="default: %(default)s")
    p.add_argument("--max-new-tokens", type=int, default=schema_default("sampling.max_new_tokens"),
                   help="default: %(default)s")
    p.add_argument("--batch-size", type=int, default=schema_default("sampling.batch_size"),
                   help="default: %(default)s")
    p.add_argument("--chunk", choices=CHUNKS.names(), default=schema_default("crosssample.chunk"),
                   help="default: %(default)s")
    p.add_argument("--chunk-size", type=int, default=schema_default("crosssample.chunk_size"),
                   help="fixed chunk size (default: %(default)s)")
    p.add_argument("--max-chunk", type=int, default=schema_default("crosssample.max_chunk"),
                   help="largest adaptive chunk (default: %(default)s)")
    p.add_argument("--dtype", default=schema_default("sampling.dtype"), help="weights dtype (default: %(default)s)")
    p.add_argument("--out", required=True, help="output Parquet")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    # Every check a user can fail comes before any model is loaded: the spec's constructor.
    if args.rate is not None and not args.random:
        raise UserError("--rate only applies with --random")

    def spec(mode: str, rate: float | None) -> CrossSpec:
        return CrossSpec(
            eps=args.eps, budgets=(0, args.budget) if args.budget else (0,),
            sampling=SamplingParams(args.seed, args.temperature, args.top_p, args.max_new_tokens),
            engine=args.engine, rule=args.rule, noise=args.noise, chunk=args.chunk, chunk_size=args.chunk_size,
            max_chunk=args.max_chunk, mode=mode, random_rate=rate, n_samples=args.samples,
            batch_size=args.batch_size, limit=args.limit, dtype=args.dtype)

    targeted = spec("targeted", None)
    if args.random:
        spec("random", 0.0 if args.rate is None else args.rate)  # check before the targeted run
    shared_vocab_size(load_tokenizer(args.primary), load_tokenizer(args.intervention),
                      f"primary {args.primary}", f"intervention {args.intervention}")
    data = read_dataset(args.prompts)

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
