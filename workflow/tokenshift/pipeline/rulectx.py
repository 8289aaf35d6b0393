"""What every Snakemake script does first: log to the rule's log, use the rule's threads."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from importlib import metadata
from typing import Any, TextIO

from tokenshift.errors import UserError


def _limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP threads at the rule's allotment, without importing torch for scripts that need none."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


PROVENANCE_PACKAGES = ("tokenshift", "torch", "transformers", "trl", "snakemake", "polars")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def provenance(smk: Any) -> str:
    """One JSON line: the rule, its resolved params (exactly what the script reads), its wildcards and the
    versions of the packages that shape its numbers; the first line of every rule's log."""
    record = {"rule": getattr(smk, "rule", None), "wildcards": dict(getattr(smk, "wildcards", {}).items()),
              "params": dict(smk.params.items()), "versions": {p: _version(p) for p in PROVENANCE_PACKAGES}}
    return "provenance: " + json.dumps(record, sort_keys=True, default=str)


@contextlib.contextmanager
def rule_context(smk: Any) -> Iterator[TextIO]:
    """Send stdout and stderr (progress bars, trainer metrics, logging) to the rule's log, opened by the
    rule's provenance line; use its threads.

    Yields the log stream so progress bars can write to it explicitly. A UserError (bad
    input found before heavy work) becomes one line in the log and exit code 1, not a traceback.
    """
    _limit_threads(max(1, int(getattr(smk, "threads", 1))))
    log_path = smk.log[0] if len(smk.log) else None
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open(log_path, "w")) if log_path else sys.stderr
        stack.enter_context(contextlib.redirect_stderr(stream))
        stack.enter_context(contextlib.redirect_stdout(stream))
        logging.basicConfig(stream=stream, level=logging.INFO, force=True)
        print(provenance(smk), file=stream, flush=True)
        try:
            yield stream
        except UserError as exc:
            print(f"error: {exc}", file=stream)
            raise SystemExit(1) from None
