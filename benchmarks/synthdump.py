"""Synthetic per-token dumps with the dump's schema: for statistics tests and the 10M-row benchmark.

Shaped like the paper's finding (most positions near-zero JS, a sparse divergent tail) so every
table has content, but drawn from a seeded generator, so nothing depends on a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tokenshift.files.atomic import atomic_file

K = 10
TOKENS = np.array(list("0123456789+-=;#") + ["</s>"])


def _lists(values: np.ndarray, typ: pa.DataType) -> pa.ListArray:
    n, k = values.shape
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * k + 1, k, dtype=np.int32)),
                                    pa.array(values.reshape(-1), type=typ))


def synthetic_batch(rng: np.random.Generator, n_seq: int, first_problem: int, max_len: int = 400) -> pa.Table:
    """Rows of ``n_seq`` responses (problem ids from ``first_problem``, two samples each)."""
    lengths = rng.integers(5, max_len, n_seq)
    n = int(lengths.sum())
    seq = np.repeat(np.arange(n_seq), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    position = np.arange(n) - starts
    length = lengths[seq]
    answer = np.where(rng.random(n_seq) < 0.8, (lengths * 0.8).astype(np.int64), -1)[seq]
    divergent = rng.random(n) < 0.15
    js = np.where(divergent, rng.uniform(0, np.log(2), n), rng.exponential(2e-4, n)).astype(np.float32)
    overlap = np.minimum(np.cumsum(rng.random((n, K)) < 0.8, axis=1), np.arange(1, K + 1)).astype(np.int8)
    probs_t = -np.sort(-rng.dirichlet(np.ones(K), n).astype(np.float32), axis=1)
    ranks = rng.geometric(0.5, (n, 3)).astype(np.int32)
    base_p = (10 ** rng.uniform(-5, 0, (n, 3))).astype(np.float32)
    cols = {
        "problem_id": pa.array(first_problem + seq // 2, pa.int64()), "sample_idx": pa.array(seq % 2, pa.int64()),
        "position": pa.array(position, pa.int32()), "length": pa.array(length, pa.int32()),
        "norm_position": pa.array(((position + 0.5) / length).astype(np.float32)),
        "answer_start": pa.array(np.where(answer >= 0, answer, None), pa.int32()),
        "token_text": pa.array(TOKENS[rng.integers(0, len(TOKENS), n)]),
        "entropy_base": pa.array(rng.gamma(1.0, 0.5, n).astype(np.float32)),
        "entropy_tuned": pa.array(rng.gamma(1.0, 0.4, n).astype(np.float32)),
        "js": pa.array(js), "js_full": pa.array((js * 0.8).astype(np.float32)),
        "js_p080": pa.array((js * 0.9).astype(np.float32)), "js_p090": pa.array((js * 0.85).astype(np.float32)),
        "topk_probs_tuned": _lists(probs_t, pa.float32()), "topk_overlap": _lists(overlap, pa.int8()),
        "correct": pa.array(rng.random(n_seq)[seq] < 0.5),
    }
    for i in range(3):
        cols[f"base_rank_of_tuned_top{i + 1}"] = pa.array(ranks[:, i])
        cols[f"base_prob_of_tuned_top{i + 1}"] = pa.array(base_p[:, i])
    return pa.table(cols)


def write_synthetic_dump(path: str | Path, n_rows: int, seed: int = 0, seqs_per_group: int = 2000) -> int:
    """Write at least ``n_rows`` rows (whole responses) as streamed row groups; returns the row count."""
    rng = np.random.default_rng(seed)
    written, problem = 0, 0
    with atomic_file(path) as tmp:
        writer = None
        while written < n_rows:
            batch = synthetic_batch(rng, seqs_per_group, problem)
            problem += seqs_per_group // 2 + 1
            if writer is None:
                writer = pq.ParquetWriter(tmp, batch.schema, compression="zstd")
            writer.write_table(batch)
            written += batch.num_rows
        if writer is not None:
            writer.close()
    return written
