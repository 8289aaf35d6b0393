"""Deterministic Parquet and text outputs, written atomically (see :mod:`tokenshift.files.atomic`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tokenshift.files.atomic import atomic_file


def _compliant(t: pa.DataType) -> pa.DataType:
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        make = pa.large_list if pa.types.is_large_list(t) else pa.list_
        return make(pa.field("element", _compliant(t.value_type), t.value_field.nullable))
    if pa.types.is_struct(t):
        return pa.struct([f.with_type(_compliant(f.type)) for f in t])
    return t


def compliant_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with list items named ``element``, the name Parquet stores and a reader returns.

    Arrow's default name (``item``) would be written into the file's stored Arrow schema, so a
    table read back and written again would not give the same bytes.
    """
    return pa.schema([f.with_type(_compliant(f.type)) for f in schema], metadata=schema.metadata)


def write_parquet(df: pl.DataFrame | pa.Table, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
    """zstd Parquet with JSON-encoded key-value metadata, written atomically.

    Columns are made contiguous and list items named as Parquet names them, so the bytes depend
    only on the rows and metadata, not on how the table was assembled: a merge of shard parts
    writes the same file as one job.
    """
    table = (df.to_arrow() if isinstance(df, pl.DataFrame) else df).combine_chunks()
    table = table.cast(compliant_schema(table.schema))
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
