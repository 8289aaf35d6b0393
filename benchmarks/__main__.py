"""``python -m benchmarks``: run every benchmark module here, each printing JSON records.

Each runs as ``python -m benchmarks.bench_<name>`` from the repository root, so benchmarks
can share helpers (``benchmarks.synthdump``) and write to ``results/bench/``. The
cross-sampling benchmark needs the default config's trained organism; ``make bench`` builds
it first with ``.venv/bin/snakemake --cores 2 results/organism/models/base results/organism/models/rl``.
"""

import subprocess
import sys
from pathlib import Path

# Benchmarks that need more than the project's install, run by their own make target.
SEPARATE = {"bench_generate": "make bench-vllm (needs vLLM)"}

here = Path(__file__).resolve().parent
for name, how in SEPARATE.items():
    print(f"{name}: not run here; {how}", file=sys.stderr)
failed = [s.stem for s in sorted(here.glob("bench_*.py")) if s.stem not in SEPARATE
          and subprocess.call([sys.executable, "-m", f"benchmarks.{s.stem}"], cwd=here.parent) != 0]
if failed:
    sys.exit(f"benchmarks failed: {', '.join(failed)}")
