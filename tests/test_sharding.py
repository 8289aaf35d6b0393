"""Sharded stages: a shard is a run of whole batches, and the merged parts are the unsharded file, byte for byte."""

from __future__ import annotations

import copy

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, copy_up_to_date, run_snakemake
from hypothesis import given
from hypothesis import strategies as st
from tokenshift.errors import UserError
from tokenshift.files.parquet import write_parquet
from tokenshift.files.shards import Shard, merge_parts


@given(n=st.integers(0, 200), count=st.integers(1, 12))
def test_shards_partition_the_items_in_order_and_evenly(n, count):
    items = list(range(n))
    parts = [Shard(i, count).take(items) for i in range(count)]
    assert [x for p in parts for x in p] == items
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


@pytest.mark.parametrize("index, count, message", [(0, 0, "shards must be an integer >= 1"),
                                                   (2, 2, "shard index must be in 0..1"),
                                                   (-1, 3, "shard index must be in 0..2")])
def test_bad_shard_is_a_user_error(index, count, message):
    with pytest.raises(UserError, match=message):
        Shard(index, count)


def test_parts_of_different_runs_do_not_merge(tmp_path):
    table = pa.table({"x": [1, 2]})
    write_parquet(table, tmp_path / "a.parquet", metadata={"seed": 0})
    write_parquet(table, tmp_path / "b.parquet", metadata={"seed": 1})
    with pytest.raises(UserError, match="does not match"):
        merge_parts([tmp_path / "a.parquet", tmp_path / "b.parquet"], tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet").exists()


def test_merged_row_groups_keep_their_order_and_skip_empty_parts(tmp_path):
    schema = pa.schema([("x", pa.int64())])
    for name, groups in (("p0", [[1, 2], [3]]), ("p1", [[]]), ("p2", [[4]])):
        with pq.ParquetWriter(tmp_path / f"{name}.parquet", schema) as w:
            for g in groups:
                w.write_table(pa.table({"x": pa.array(g, pa.int64())}))
    n = merge_parts([tmp_path / f"p{i}.parquet" for i in range(3)], tmp_path / "m.parquet", row_groups=True)
    f = pq.ParquetFile(tmp_path / "m.parquet")
    assert n == 4 and f.num_row_groups == 3
    assert f.read()["x"].to_pylist() == [1, 2, 3, 4]


SHARDS = {"generate": 3, "dump": 5, "crosssample": 2}  # the dump has 4 batches: one shard is empty


def test_sharded_stages_merge_to_the_unsharded_bytes(ci_run, tmp_path):
    """Generation, dump and both cross-sampling modes, sharded, against the unsharded run's files."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    sharded = copy.deepcopy(cfg)
    sharded["jobs"] = {stage: {"shards": n} for stage, n in SHARDS.items()}
    config = tmp_path / "sharded.yaml"
    config.write_text(yaml.safe_dump(sharded))
    work = tmp_path / "sharded"
    run_dir = work / "results" / ci_run.name
    copy_up_to_date(ci_run, run_dir, ("data", "models"))
    sweep = "crosssample/rl/eval/forward/eps0.01"
    files = ["generations/rl/eval.parquet", "dump/rl/eval.parquet", f"{sweep}/targeted.parquet",
             f"{sweep}/targeted_switches.parquet", f"{sweep}/random.parquet", f"{sweep}/random_switches.parquet"]
    proc = run_snakemake(work, *(f"results/{ci_run.name}/{f}" for f in files), configfile=str(config))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert len(list((run_dir / "generations/rl/eval_shards").glob("*-of-3.parquet"))) == 3
    assert len(list((run_dir / "dump/rl/eval_shards").glob("*-of-5.parquet"))) == 5
    for f in files:
        assert pq.read_table(run_dir / f).num_rows > 0, f
        assert (run_dir / f).read_bytes() == (ci_run / f).read_bytes(), f
