"""Training evolution (Fig. 29): Jaccard overlaps and per-checkpoint JS against direct computations."""

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.analysis.evolution import PERCENTILES, checkpoint_row, evolution_table, jaccard

keys = st.sets(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 5)), max_size=30)


def frame(key_set):
    rows = sorted(key_set)
    return pl.DataFrame({"problem_id": [r[0] for r in rows], "sample_idx": [r[1] for r in rows],
                         "position": [r[2] for r in rows]}, schema={k: pl.Int64 for k in
                                                                   ("problem_id", "sample_idx", "position")})


@given(keys, keys)
def test_jaccard_is_the_set_ratio(a, b):
    got = jaccard(frame(a), frame(b))
    if not a | b:
        assert np.isnan(got)
    else:
        assert got == len(a & b) / len(a | b)


def dump(js):
    n = len(js)
    return pl.DataFrame({"problem_id": np.arange(n) // 6, "sample_idx": (np.arange(n) // 3) % 2,
                         "position": np.arange(n) % 3, "js": np.asarray(js, dtype=np.float32)})


@settings(max_examples=50)
@given(st.lists(st.floats(0, 0.5, width=32), min_size=1, max_size=60), st.floats(0.01, 0.5))
def test_checkpoint_row_matches_numpy(js, high):
    d = dump(js)
    final = d.sample(fraction=0.5, seed=1).filter(pl.col("js") > high / 2).select("problem_id", "sample_idx",
                                                                                 "position")
    row = checkpoint_row(d, final, high)
    values = np.asarray(js, dtype=np.float32).astype(np.float64)
    for q in PERCENTILES:
        assert row[f"js_p{q}"] == np.percentile(values, q)
    assert row["high_share"] == np.mean(values > high)
    mine = set(d.filter(pl.col("js") > high).select("problem_id", "sample_idx", "position").iter_rows())
    theirs = set(final.iter_rows())
    expect = len(mine & theirs) / len(mine | theirs) if mine | theirs else float("nan")
    assert row["jaccard_final"] == expect or (np.isnan(expect) and np.isnan(row["jaccard_final"]))


def test_evolution_table_orders_steps_and_reads_each_checkpoints_accuracy(tmp_path):
    paths = {}
    for step, scale in ((20, 0.5), (10, 0.1), (30, 1.0)):
        paths[step] = tmp_path / f"step{step}.parquet"
        dump(np.linspace(0, 0.3, 12) * scale).write_parquet(paths[step])
    final = tmp_path / "final.parquet"
    dump(np.linspace(0, 0.3, 12)).write_parquet(final)
    acc = pl.DataFrame({"model": ["rl_step10", "rl_step20", "rl_step30", "rl_step10"],
                        "dataset": ["eval", "eval", "eval", "other"], "mean_at_n": [0.1, 0.2, 0.3, 0.9],
                        "ci_low": [0.0, 0.1, 0.2, 0.8], "ci_high": [0.2, 0.3, 0.4, 1.0]})
    t = evolution_table(paths, final, acc, "eval", high=0.1)
    assert t["step"].to_list() == [10, 20, 30]
    assert t["mean_at_n"].to_list() == [0.1, 0.2, 0.3]
    assert t["jaccard_final"][-1] == 1.0  # the last checkpoint is the final model here: same high set
    assert t["js_p99"].is_sorted()
    assert t["high_share"].to_list()[0] == 0.0
