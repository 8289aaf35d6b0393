"""How every benchmark reports: one JSON record per line on stdout and in results/bench/<name>.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

from tokenshift.files.parquet import write_text

OUT = Path("results/bench")


def emit(records: list[dict], name: str) -> None:
    """Print each record as a JSON line and write them all, atomically, to ``results/bench/<name>.jsonl``."""
    lines = [json.dumps(r, sort_keys=True) for r in records]
    for line in lines:
        print(line, flush=True)
    write_text("".join(line + "\n" for line in lines), OUT / f"{name}.jsonl")
