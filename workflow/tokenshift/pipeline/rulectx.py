"""What every Snakemake script does first: log to the rule's log, use the rule's threads."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any, TextIO

from tokenshift.errors import UserError


def _limit_threads(n: int) -> None:
    """Cap BLAS/OpenMP threads at the rule's allotment, without importing torch for scripts that need none."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


@contextlib.contextmanager
def rule_context(smk: Any) -> Iterator[TextIO]:
    """Send stdout and stderr (progress bars, trainer metrics, logging) to the rule's log; use its threads.

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
        try:
            yield stream
        except UserError as exc:
            print(f"error: {exc}", file=stream)
            raise SystemExit(1) from None
