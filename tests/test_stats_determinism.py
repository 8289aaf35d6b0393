"""The statistics tables and the summary table are byte-identical whatever polars' thread count.

Polars reads POLARS_MAX_THREADS once, at import, so each thread count runs the shift_stats and
shift_summary scripts in its own subprocess, on the same dumps, through a stand-in for the
``snakemake`` object; the files they write are then compared byte for byte. The dumps are large
enough (several hundred thousand rows in many row groups) for polars to split the work. The
order-independent sums the means are built on are also checked in-process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tokenshift.analysis.statistics import TABLES, count_mean, exact_mean, exact_sum

from benchmarks.synthdump import write_synthetic_dump

ROOT = Path(__file__).resolve().parents[1]
THREADS = (1, 2, 8)
STATS = {"near_zero": 0.001, "high": 0.1, "tail_thresholds": [0.0001, 0.001, 0.01, 0.05, 0.1],
         "overlap_thresholds": [0.05, 0.1, 0.2, 0.3], "position_bins": 20, "window": 64, "top_tokens": 20,
         "hist_tokens": 5, "hist_bins": 40, "top_p": 0.9}

# Runs in a subprocess: argv = spec.json. The two rule scripts, each with a stand-in snakemake object whose
# threads are the thread count under test (the scripts may bind polars' pool to the rule's threads).
RUNNER = """
import json, runpy, sys

class NS:
    def __init__(self, **kw):
        self.__dict__.update(kw)
    def __getitem__(self, key):
        return self.__dict__[key]
    def __len__(self):
        return len(self.__dict__)
    def items(self):
        return self.__dict__.items()

spec = json.load(open(sys.argv[1]))
out = spec["out"]
entries = [tuple(e[:2]) for e in spec["entries"]]
stats = NS(rule="shift_stats", threads=spec["threads"], wildcards=NS(), log=[],
           params=NS(entries=entries, stats=spec["stats"]), input=NS(dumps=[e[2] for e in spec["entries"]]),
           output=NS(**{t: f"{out}/stats/{t}.parquet" for t in spec["tables"]}))
runpy.run_path(spec["scripts"] + "/shift_stats.py", init_globals={"snakemake": stats}, run_name="__main__")
summary = NS(rule="shift_summary", threads=spec["threads"], wildcards=NS(), log=[], params=NS(),
             input=NS(table=f"{out}/stats/shift_summary.parquet"),
             output=NS(csv=f"{out}/tables/shift_summary.csv", md=f"{out}/tables/shift_summary.md"))
runpy.run_path(spec["scripts"] + "/shift_summary.py", init_globals={"snakemake": summary}, run_name="__main__")
import polars
print("polars threads:", polars.thread_pool_size())
"""


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    root = tmp_path_factory.mktemp("dumps")
    # ~100 responses per row group (~20k rows): ~20 row groups in all, ~400k rows
    sizes = [("rl", "eval", 240_000, 1), ("sft", "eval", 120_000, 2), ("rl", "train", 40_000, 3)]
    entries = []
    for pair, dataset, n, seed in sizes:
        path = root / f"{pair}_{dataset}.parquet"
        write_synthetic_dump(path, n, seed=seed, seqs_per_group=100)
        entries.append((pair, dataset, str(path)))
    return entries


def _run(entries, out: Path, threads: int) -> None:
    for sub in ("stats", "tables"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    spec = out / "spec.json"
    spec.write_text(json.dumps({"out": str(out), "entries": entries, "stats": STATS, "tables": list(TABLES),
                                "threads": threads, "scripts": str(ROOT / "workflow" / "scripts")}))
    env = {**os.environ, "POLARS_MAX_THREADS": str(threads)}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "workflow"), str(ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(spec)], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout
    assert f"polars threads: {threads}" in proc.stdout, proc.stdout  # the thread count really was in force


def test_tables_are_byte_identical_across_thread_counts(dumps, tmp_path):
    outs = {}
    for n in THREADS:
        outs[n] = tmp_path / f"threads{n}"
        _run(dumps, outs[n], n)
    files = sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file() and p.name != "spec.json")
    assert len(files) == len(TABLES) + 2
    differ = {}
    for rel in files:
        ref = (outs[1] / rel).read_bytes()
        bad = [n for n in THREADS[1:] if (outs[n] / rel).read_bytes() != ref]
        if bad:
            differ[str(rel)] = bad
    assert not differ, f"differ from POLARS_MAX_THREADS=1 (file: thread counts): {differ}"


def _sums(df: pl.DataFrame) -> pl.DataFrame:
    return df.group_by("g").agg(s=exact_sum(pl.col("x")), m=exact_mean(pl.col("x"))).sort("g")


def test_exact_sum_is_order_and_chunk_independent():
    rng = np.random.default_rng(0)
    n = 200_000
    # float32 terms over many magnitudes and both signs, as JS, entropies and log ratios are
    x = (rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-12, 3, n)).astype(np.float32)
    g = rng.integers(0, 7, n)
    ref = _sums(pl.DataFrame({"g": g, "x": x}))
    for seed in range(3):
        perm = np.random.default_rng(seed).permutation(n)
        parts = [pl.DataFrame({"g": g[i], "x": x[i]}) for i in np.array_split(perm, 5 + seed)]
        got = _sums(pl.concat(parts, rechunk=False))
        assert got.equals(ref)
    for row in ref.iter_rows(named=True):
        exact = math.fsum(x[g == row["g"]].astype(np.float64))
        assert row["s"] == pytest.approx(exact, rel=1e-15, abs=1e-25)
        assert row["m"] == pytest.approx(exact / (g == row["g"]).sum(), rel=1e-15, abs=1e-25)


def test_exact_sum_edge_cases():
    df = pl.DataFrame({"g": [0, 0, 1, 1, 2, 3, 3, 4, 4, 5], "x": [1.5, None, None, None, math.inf, 1.0, math.nan,
                                                                  -math.inf, math.inf, -2.0 ** 40]})
    got = {r["g"]: r for r in _sums(df).iter_rows(named=True)}
    assert got[0]["s"] == 1.5 and got[0]["m"] == 1.5  # nulls skipped
    assert got[1]["s"] == 0.0 and got[1]["m"] is None  # no values: mean is null, as polars' mean
    assert got[2]["s"] == math.inf and math.isnan(got[3]["s"]) and math.isnan(got[4]["s"])
    assert got[5]["s"] == -(2.0 ** 40)  # out of the fixed-point range: the plain sum
    means = pl.DataFrame({"b": [True, False, True, None]}).select(count_mean(pl.col("b")))
    assert means.item() == pytest.approx(2 / 3)
