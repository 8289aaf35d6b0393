"""``tokenshift crosssample``: generate with a primary model, switching to an intervention model
where their top-p distributions diverge (JS > eps), up to a budget of switches."""

from __future__ import annotations

import argparse
import sys

import tokenshift
from tokenshift.crosssample import ChunkPolicy, CrossConfig, cross_sample_dataset, switch_rate
from tokenshift.crosssample.engine import check_budget
from tokenshift.crosssample.fast import CHUNK_KINDS
from tokenshift.crosssample.rules import check_eps
from tokenshift.crosssample.run import select_problems
from tokenshift.data.datasets import read_dataset
from tokenshift.errors import UserError
from tokenshift.files.parquet import write_parquet
from tokenshift.generation.sampler import SamplingParams
from tokenshift.models.loading import load_tokenizer, shared_vocab_size

OUT_COLUMNS = ["problem_id", "sample_idx", "response_ids", "n_switches", "n_effective", "length", "finish_reason",
               "response_text", "correct"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("crosssample", help="cross-sample responses from two models (paper §3)",
                              description=__doc__)
    p.add_argument("--primary", required=True, help="primary model directory (draws by default)")
    p.add_argument("--intervention", required=True, help="intervention model directory (draws at switches)")
    p.add_argument("--prompts", required=True, help="Parquet with problem_id, prompt, answer")
    p.add_argument("--eps", type=float, required=True, help="JS threshold on top-p truncated distributions")
    p.add_argument("--budget", type=int, required=True, help="maximum number of switches per response")
    p.add_argument("--engine", choices=["naive", "fast"], default="fast")
    p.add_argument("--random", action="store_true",
                   help="random positions at the switch rate of the targeted run (measured first unless --rate)")
    p.add_argument("--rate", type=float, default=None, help="switch rate of the random baseline")
    p.add_argument("--noise", choices=["independent", "shared"], default="independent")
    p.add_argument("--samples", type=int, default=1, help="responses per prompt")
    p.add_argument("--limit", type=int, default=None, help="first N problems only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--chunk", choices=CHUNK_KINDS, default="adaptive")
    p.add_argument("--chunk-size", type=int, default=4)
    p.add_argument("--dtype", default="float32")
    p.add_argument("--out", required=True, help="output Parquet")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    # Every check a user can fail comes before any model is loaded.
    check_eps(args.eps)
    check_budget(args.budget)
    if args.rate is not None and not args.random:
        raise UserError("--rate only applies with --random")
    if not 0.0 < args.top_p <= 1.0 or args.temperature <= 0 or args.max_new_tokens < 1:
        raise UserError("need 0 < top_p <= 1, temperature > 0 and max_new_tokens >= 1")
    shared_vocab_size(load_tokenizer(args.primary), load_tokenizer(args.intervention),
                      f"primary {args.primary}", f"intervention {args.intervention}")
    chunk = ChunkPolicy(args.chunk, args.chunk_size, max(16, args.chunk_size))
    data = read_dataset(args.prompts)
    data = select_problems(data, args.limit)
    params = SamplingParams(args.seed, args.temperature, args.top_p, args.max_new_tokens)
    cfg = CrossConfig(args.eps, (args.budget,), args.engine, args.noise, chunk)

    def run(c: CrossConfig):
        return cross_sample_dataset(args.primary, args.intervention, data, args.samples, params, c,
                                    args.batch_size, args.dtype, progress=sys.stderr)

    rate = args.rate
    if args.random and rate is None:
        rate = switch_rate(run(cfg)[0])
    if args.random:
        cfg = CrossConfig(args.eps, (args.budget,), args.engine, args.noise, chunk, random_rate=rate)
    resp, _, stats = run(cfg)
    write_parquet(resp.select(OUT_COLUMNS), args.out, metadata={
        "primary": args.primary, "intervention": args.intervention, "eps": args.eps, "budget": args.budget,
        "engine": args.engine, "noise": args.noise, "random_rate": rate, "seed": args.seed,
        "top_p": args.top_p, "temperature": args.temperature, "tokenshift_version": tokenshift.__version__,
    })
    print(f"crosssample: {resp.height} responses, {int(resp['n_switches'].sum())} switches "
          f"({int(resp['n_effective'].sum())} effective), {stats.full.passes} forward passes -> {args.out}",
          file=sys.stderr)
