"""Statistics benchmark: every shift table over a synthetic 10-million-row dump.

    .venv/bin/python -m benchmarks.bench_stats [--rows 10000000]

The table (dump schema, seeded, shaped like the paper's sparse shifts; no model) is written once to
results/bench/synthetic_<rows>_<hash of synthdump.py>.parquet, so a cached file is always the one the
current generator writes and nothing else on disk changes what is measured; the tables are then
computed in a fresh subprocess whose wall time and peak RSS are reported (goal: <= 60 s and
<= 4 GiB on 2 cores). One JSON record per line, also written to results/bench/stats.jsonl;
``ratio`` = seconds / 60 (<= 1 meets the goal).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

from benchmarks import synthdump
from benchmarks.records import OUT, emit
from benchmarks.synthdump import write_synthetic_dump

MODELS = "none: seeded synthetic dump from benchmarks/synthdump.py"

CHILD = """
import resource, sys, time
from tokenshift.analysis.statistics import TABLES, StatsParams, scan_dumps
lf = scan_dumps([("rl", "synthetic", sys.argv[1])])
t = time.perf_counter()
for name, f in TABLES.items():
    f(lf, StatsParams(top_p=0.7))
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    version = hashlib.sha256(Path(synthdump.__file__).read_bytes()).hexdigest()[:12]
    path = OUT / f"synthetic_{args.rows}_{version}.parquet"
    if not path.exists():
        write_synthetic_dump(path, args.rows, seed=0)
    import pyarrow.parquet as pq
    rows = pq.ParquetFile(path).metadata.num_rows
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True,
                          env={"POLARS_MAX_THREADS": "2", **__import__("os").environ})
    seconds, rss_kib = proc.stdout.split()
    rec = {"name": "stats_10m_rows", "ratio": round(float(seconds) / 60, 4), "goal": "<= 1 (60 s), rss <= 4096 MiB",
           "seconds": round(float(seconds), 2), "peak_rss_mib": round(int(rss_kib) / 1024, 1), "rows": rows,
           "models": MODELS}
    emit([rec], "stats")


if __name__ == "__main__":
    main()
