"""``tokenshift dump``: the per-token table of a (base, tuned) pair on a response set."""

from __future__ import annotations

import argparse
import logging
import sys

from tokenshift.analysis.divergence import DivergenceConfig
from tokenshift.analysis.dump import DumpOptions, run_dump
from tokenshift.commands import add_device_option, check_output, set_schema_defaults

# Option dest -> the config key whose schema default it takes (dump.top_p and dump.temperature are null in
# the schema, meaning the sampling values).
SCHEMA_KEYS = {
    "top_p": "sampling.top_p", "extra_top_p": "dump.extra_top_p", "temperature": "sampling.temperature",
    "batch_size": "dump.batch_size", "chunk": "dump.chunk", "dtype": "dump.dtype", "device": "device",
    "answer_marker": "dump.answer_marker",
}


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("dump", help="score responses with two models into a per-token Parquet table",
                              description=__doc__)
    p.add_argument("--base", required=True, help="base model directory (HF, safetensors)")
    p.add_argument("--tuned", required=True, help="fine-tuned model directory")
    p.add_argument("--responses", required=True, help="generations Parquet (prompt_ids, response_ids, ...)")
    p.add_argument("--out", required=True, help="output Parquet (not one of the inputs)")
    p.add_argument("--correct", default=None, help="optional eval Parquet (problem_id, sample_idx, correct)")
    p.add_argument("--top-p", type=float, help="analysis top_p of the js column (default: sampling.top_p, %(default)s)")
    p.add_argument("--extra-top-p", type=float, nargs="*",
                   help="further top_p values, one js_pXXX column each (default: %(default)s)")
    p.add_argument("--temperature", type=float, help="default: sampling.temperature, %(default)s")
    p.add_argument("--batch-size", type=int, help="responses per forward batch (default: %(default)s)")
    p.add_argument("--chunk", type=int, help="positions per statistics chunk (0 = auto)")
    p.add_argument("--dtype", help="weights dtype (default: %(default)s)")
    add_device_option(p)
    p.add_argument("--answer-marker", help="text that opens the final-answer span (default: %(default)s)")
    set_schema_defaults(p, SCHEMA_KEYS)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    check_output(args.out, {"--base": args.base, "--tuned": args.tuned, "--responses": args.responses,
                            "--correct": args.correct})
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = DivergenceConfig(temperature=args.temperature, top_p=args.top_p, extra_top_p=tuple(args.extra_top_p),
                           chunk=args.chunk)
    opts = DumpOptions(batch_size=args.batch_size, dtype=args.dtype, device=args.device,
                       answer_marker=args.answer_marker)
    s = run_dump(args.base, args.tuned, args.responses, args.out, cfg, opts, args.correct, progress=sys.stderr)
    print(f"dump: {s.n_positions} positions from {s.n_responses - s.n_empty} responses "
          f"({s.n_empty} empty skipped) -> {args.out}", file=sys.stderr)
