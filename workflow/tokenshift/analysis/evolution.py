"""Training evolution (the paper's §4.3, Fig. 29): how the shift from the base grows over RL training.

Every saved checkpoint of the RL run is scored against the base on one fixed response set, the
final RL model's own responses, so that checkpoints differ only in the model, never in the text.
Per checkpoint: JS percentiles (29a), the Jaccard overlap of its high-JS positions (JS above
``stats.high``) with the final model's (29b), and its Mean@n from its own generations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

PERCENTILES = (50, 75, 90, 95, 99)
KEY = ["problem_id", "sample_idx", "position"]
COLUMNS = ["step", "dataset", "positions", "js_mean", *(f"js_p{q}" for q in PERCENTILES), "high_share",
           "jaccard_final", "mean_at_n", "ci_low", "ci_high"]


def high_positions(dump: pl.DataFrame, high: float) -> pl.DataFrame:
    """The (problem, sample, position) keys whose JS exceeds ``high``."""
    return dump.filter(pl.col("js") > high).select(KEY)


def jaccard(a: pl.DataFrame, b: pl.DataFrame) -> float:
    """|a ∩ b| / |a ∪ b| of two key sets; NaN when both are empty (nothing to compare)."""
    inter = a.join(b, on=KEY, how="inner").height
    union = a.height + b.height - inter
    return inter / union if union else float("nan")


def checkpoint_row(dump: pl.DataFrame, final_high: pl.DataFrame, high: float) -> dict[str, float]:
    """Fig. 29's numbers for one checkpoint's dump (base vs checkpoint on the final model's responses)."""
    js = dump["js"].to_numpy().astype(np.float64)
    pct = np.percentile(js, PERCENTILES) if js.size else [float("nan")] * len(PERCENTILES)
    return {"positions": int(js.size), "js_mean": float(js.mean()) if js.size else float("nan"),
            **{f"js_p{q}": float(v) for q, v in zip(PERCENTILES, pct)},
            "high_share": float((js > high).mean()) if js.size else float("nan"),
            "jaccard_final": jaccard(high_positions(dump, high), final_high)}


def evolution_table(checkpoint_dumps: dict[int, str | Path], final_dump: str | Path, accuracy: pl.DataFrame,
                    dataset: str, high: float) -> pl.DataFrame:
    """One row per checkpoint step, in step order, with its Mean@n (model rl_step<N>) from ``accuracy``."""
    columns = ["js", *KEY]
    final_high = high_positions(pl.read_parquet(final_dump, columns=columns), high)
    acc = {r["model"]: r for r in accuracy.filter(pl.col("dataset") == dataset).iter_rows(named=True)}
    rows = []
    for step in sorted(checkpoint_dumps):
        row = checkpoint_row(pl.read_parquet(checkpoint_dumps[step], columns=columns), final_high, high)
        a = acc.get(f"rl_step{step}", {})
        rows.append({"step": step, "dataset": dataset, **row,
                     **{k: a.get(k, float("nan")) for k in ("mean_at_n", "ci_low", "ci_high")}})
    return pl.DataFrame(rows).select(COLUMNS)
