"""Cutting a stage's work into shard jobs and merging their part files back into one.

A stage (generation, dump, cross-sampling) walks its rows in batches. Shard ``i`` of ``n`` takes
a contiguous run of whole batches, so every batch is computed exactly as in the unsharded job
(same rows, same padding), and keyed noise makes each row's tokens independent of which job
draws them. Each part file carries the whole run's metadata; merging concatenates the parts in
order, so with the HF backend the merged file is byte for byte the unsharded one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow as pa
import pyarrow.parquet as pq

from tokenshift.errors import UserError
from tokenshift.files.atomic import atomic_file
from tokenshift.files.parquet import write_parquet

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``; the default is the whole job."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise UserError(f"shards must be an integer >= 1, got {self.count!r}")
        if isinstance(self.index, bool) or not isinstance(self.index, int) or not 0 <= self.index < self.count:
            raise UserError(f"shard index must be in 0..{self.count - 1}, got {self.index!r}")

    def bounds(self, n: int) -> tuple[int, int]:
        """[start, stop) of this shard among ``n`` items: contiguous, sizes differing by at most one."""
        return self.index * n // self.count, (self.index + 1) * n // self.count

    def take(self, items: Sequence[T]) -> list[T]:
        start, stop = self.bounds(len(items))
        return list(items[start:stop])


WHOLE = Shard()  # the unsharded job


def merge_parts(parts: Sequence[str | Path], out: str | Path, row_groups: bool = False,
                sort_by: Sequence[str] = ()) -> int:
    """Concatenate part files (in shard order) into ``out`` atomically; returns the row count.

    ``row_groups`` keeps each part's row groups as they are (the dump writes one per batch);
    otherwise the rows are written as one table, as a stage that writes its whole table at
    once does, after sorting by ``sort_by`` when the stage sorts its table. Parts must share
    one schema and metadata: parts of different runs are an error, not a silent mixture.
    """
    if not parts:
        raise UserError(f"no shard parts to merge into {out}")
    files = [pq.ParquetFile(p) for p in parts]
    schema = files[0].schema_arrow
    for path, f in zip(parts[1:], files[1:]):
        if not f.schema_arrow.equals(schema, check_metadata=True):
            raise UserError(f"shard part {path} does not match {parts[0]} (schema or run metadata differs); "
                            "rerun the stage's shards")
    if row_groups:
        n = 0
        with atomic_file(out) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for f in files:
                for i in range(f.num_row_groups):
                    group = f.read_row_group(i)
                    if group.num_rows:
                        writer.write_table(group)
                        n += group.num_rows
            if n == 0:
                writer.write_table(schema.empty_table())
        return n
    table = pa.concat_tables([f.read() for f in files])
    if sort_by:
        table = table.sort_by([(c, "ascending") for c in sort_by])
    write_parquet(table, out)
    return table.num_rows
