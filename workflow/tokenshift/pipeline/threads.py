"""The rule's ``threads``, bound before any library that sizes its thread pool once is imported.

polars reads ``POLARS_MAX_THREADS`` when it is first imported, the BLAS and OpenMP runtimes
(under numpy and torch) read theirs when they load, and the tokenizers library reads
``RAYON_RS_NUM_CPUS`` when its pool starts: setting them later changes nothing. So every rule
script calls :func:`bind_threads` as its very first statement, before importing polars, torch or
a tokenshift module that imports them (this module imports neither). Subprocesses inherit them.
"""

from __future__ import annotations

import os
import sys
from typing import Any

THREAD_VARIABLES = ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "RAYON_RS_NUM_CPUS")


def rule_threads(smk: Any) -> int:
    """The threads Snakemake gave the job (at least 1)."""
    return max(1, int(getattr(smk, "threads", 1)))


def bind_threads(smk: Any) -> int | None:
    """Cap every thread pool at the job's ``threads``; returns that number.

    ``smk`` is the script's ``snakemake`` object; None (the script imported outside a rule, for
    its functions) changes nothing. torch, when already imported, is capped too.
    """
    if smk is None:
        return None
    n = rule_threads(smk)
    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    return n
