"""CLI subcommands: the library's stages without Snakemake, one module per ``tokenshift <command>``.

Each module exposes ``add_parser(subparsers)`` and ``SCHEMA_KEYS`` (option dest -> config key):
every option with a config key takes the schema's default, so a command and the pipeline rule
behind it agree on every setting a user leaves out.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from tokenshift.errors import UserError
from tokenshift.models.device import DEVICES
from tokenshift.pipeline.config import schema_default


def set_schema_defaults(parser: argparse.ArgumentParser, keys: Mapping[str, str]) -> None:
    """Give each option named in ``keys`` (by dest) the schema default of its config key; help texts
    showing ``%(default)s`` show it."""
    parser.set_defaults(**{dest: schema_default(key) for dest, key in keys.items()})


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``, as the config's ``device`` (its default comes from SCHEMA_KEYS)."""
    parser.add_argument("--device", choices=DEVICES,
                        help="torch device of both models; auto = a CUDA GPU when torch sees one, else the CPU "
                             "(default: %(default)s)")


def check_output(out: str | Path, inputs: Mapping[str, str | Path | None]) -> None:
    """Refuse an output path that is one of the inputs (``inputs``: option -> path): writing the output
    would replace that input, the generations a run took hours to sample, say."""
    target = Path(out).resolve()
    for option, path in inputs.items():
        if path is not None and Path(path).resolve() == target:
            raise UserError(f"--out {out} is the {option} input; refusing to overwrite it (choose another --out)")
