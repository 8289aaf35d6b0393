"""``python -m tokenshift <command>``: the library's stages without Snakemake.

Each command lives in ``tokenshift.commands.<name>`` and exposes ``add_parser(subparsers)``
(registering ``func``); errors a user can fix are printed as one line, exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from tokenshift import commands
from tokenshift.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenshift", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{info.name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except UserError as exc:
        print(f"tokenshift {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0
