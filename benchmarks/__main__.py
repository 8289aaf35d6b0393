"""``python -m benchmarks``: run every benchmark script here, each printing JSON records."""

import subprocess
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
failed = [s.name for s in sorted(here.glob("bench_*.py")) if subprocess.call([sys.executable, str(s)]) != 0]
if failed:
    sys.exit(f"benchmarks failed: {', '.join(failed)}")
