"""Deterministic Parquet and text outputs, written atomically (see :mod:`tokenshift.files.atomic`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tokenshift.files.atomic import atomic_file


def write_parquet(df: pl.DataFrame | pa.Table, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
    """zstd Parquet with JSON-encoded key-value metadata, written atomically."""
    table = df.to_arrow() if isinstance(df, pl.DataFrame) else df
    if metadata:
        meta = dict(table.schema.metadata or {})
        meta.update({k.encode(): json.dumps(v, sort_keys=True).encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(meta)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON key-value metadata written by :func:`write_parquet`."""
    raw = pq.read_schema(path).metadata or {}
    out = {}
    for k, v in raw.items():
        try:
            out[k.decode()] = json.loads(v)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
    return out


def write_text(text: str, path: str | Path) -> None:
    """Atomic text write (CSV, Markdown, LaTeX, HTML, JSON lines)."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
