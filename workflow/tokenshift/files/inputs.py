"""Reading a stage's input tables: a missing, corrupt or incomplete file is one line naming it, not a traceback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa

from tokenshift.errors import UserError

# What Polars and Arrow raise on a file that is not Parquet, truncated or damaged (not on bad columns or casts).
PARQUET_ERRORS = (pl.exceptions.ComputeError, pa.ArrowException, OSError)


@contextmanager
def reading(path: str | Path, what: str) -> Iterator[None]:
    """Check that ``path`` exists, and turn a Parquet decoding error inside the block into a UserError
    naming the file as ``what`` (responses, dataset, ...)."""
    if not Path(path).is_file():
        raise UserError(f"{what} {path} not found")
    try:
        yield
    except PARQUET_ERRORS as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(f"{what} {path} is not a readable Parquet file ({reason})") from None


def read_table(path: str | Path, what: str, columns: Sequence[str] = ()) -> pl.DataFrame:
    """The Parquet table at ``path``, checked to be readable and to have ``columns``."""
    with reading(path, what):
        df = pl.read_parquet(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise UserError(f"{what} {path} lacks column{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(map(repr, missing))}")
    return df
