"""Atomic, deterministic Parquet writes: a killed job never leaves a file that looks complete."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_path(path: str | Path) -> tuple[Path, Path]:
    """(temporary sibling, final path); write the first, then ``os.replace`` it onto the second."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would survive the rename; results are shared files
    return Path(tmp), final


def write_parquet(df: pl.DataFrame | pa.Table, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
    """zstd Parquet with JSON-encoded key-value metadata, written atomically."""
    table = df.to_arrow() if isinstance(df, pl.DataFrame) else df
    if metadata:
        meta = dict(table.schema.metadata or {})
        meta.update({k.encode(): json.dumps(v, sort_keys=True).encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(meta)
    tmp, final = atomic_path(path)
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    """Atomic text write (CSV, Markdown, LaTeX, HTML)."""
    tmp, final = atomic_path(path)
    try:
        tmp.write_text(text)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
