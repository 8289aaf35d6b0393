"""What every Snakemake script does first: log to the rule's log, use the rule's threads."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import torch

from .errors import UserError


@contextlib.contextmanager
def rule_context(smk: Any) -> Iterator[TextIO]:
    """Send stderr (tqdm bars, warnings, logging) to the rule's log; set torch threads; seed torch.

    Yields the log stream so progress bars can write to it explicitly. A UserError (bad
    input found before heavy work) becomes one line in the log and exit code 1, not a traceback.
    """
    torch.set_num_threads(max(1, int(getattr(smk, "threads", 1))))
    log_path = smk.log[0] if len(smk.log) else None
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open(log_path, "w")) if log_path else sys.stderr
        stack.enter_context(contextlib.redirect_stderr(stream))
        logging.basicConfig(stream=stream, level=logging.INFO, force=True)
        try:
            yield stream
        except UserError as exc:
            print(f"error: {exc}", file=stream)
            raise SystemExit(1) from None
