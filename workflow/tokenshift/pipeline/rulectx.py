"""What every Snakemake script does once its threads are bound (pipeline.threads): log to the rule's log, one-line
user errors, tracebacks in the log."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from importlib import metadata
from typing import Any, TextIO

from tokenshift.errors import UserError
from tokenshift.pipeline.threads import bind_threads

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
    rule's provenance line; use its threads (the script has bound them already, before its imports:
    see :mod:`tokenshift.pipeline.threads`; torch is capped again here, imported by now).

    Yields the log stream so progress bars can write to it explicitly. Every failure ends the log,
    so the log alone says why the job failed (on a cluster the job's console is a file elsewhere):
    a UserError (bad input found before heavy work) as one line ``error: <message>`` and exit
    code 1, any other exception as its full traceback, then raised on, so that the job fails
    as before (and the console shows it too).
    """
    bind_threads(smk)
    log_path = smk.log[0] if len(smk.log) else None
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(open(log_path, "w")) if log_path else sys.stderr
        stack.enter_context(contextlib.redirect_stderr(stream))
        stack.enter_context(contextlib.redirect_stdout(stream))
        root = logging.getLogger()
        saved = root.handlers[:], root.level
        logging.basicConfig(stream=stream, level=logging.INFO, force=True)
        # Give logging back as it was on leaving: its handler writes to a log file closed by then.
        stack.callback(lambda: (root.handlers.clear(), root.handlers.extend(saved[0]), root.setLevel(saved[1])))
        print(provenance(smk), file=stream, flush=True)
        try:
            yield stream
        except UserError as exc:
            print(f"error: {exc}", file=stream, flush=True)
            raise SystemExit(1) from None
        except Exception:
            if log_path:  # without a log file the stream is the console, where the raise prints it
                traceback.print_exc(file=stream)
                stream.flush()
            raise
