"""Kill and resume: a ci run killed during the dump leaves no complete-looking dump and resumes to the same bytes.

A copy of the finished ci run's models, data, generations and scores (made up to date by
their modification times) is run to its dumps in its own process group. As soon as a dump
job's temporary sibling appears, the whole group gets SIGKILL, as a crashed node or an OOM
killer would do it. Then: no dump under its final name, the partial file is not a readable
Parquet, Snakemake's lock is left behind, ``--unlock`` clears it, and the rerun writes dumps
byte-identical to the uninterrupted run's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import ROOT, run_snakemake

PAIRS = ("rl", "sft")
ATTEMPTS = 3  # a dump that starts and finishes between two polls is retried, never counted as a pass


def _dump_targets(run: str) -> list[str]:
    return [f"results/{run}/dump/{pair}/eval.parquet" for pair in PAIRS]


def _partial_dumps(run_dir: Path) -> list[Path]:
    """Temporary siblings of the dump outputs (``.eval.parquet.<random>.tmp``)."""
    return [p for pair in PAIRS if (run_dir / "dump" / pair).is_dir()
            for p in (run_dir / "dump" / pair).glob(".eval.parquet.*.tmp")]


def _copy_up_to_date(ci_run: Path, run_dir: Path) -> None:
    """Copy the run's parts before the dump, with modification times in pipeline order and after every source.

    Stands in for ``--touch`` (one Snakemake start less): a copy has no Snakemake metadata,
    so only the modification times decide what is up to date.
    """
    now = time.time()
    for i, part in enumerate(("data", "models", "generations", "eval")):
        shutil.copytree(ci_run / part, run_dir / part)
        stamp = now - 8 + 2 * i
        for path in [run_dir / part, *(run_dir / part).rglob("*")]:
            os.utime(path, (stamp, stamp), follow_symlinks=False)


def _start(work: Path, *targets: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(work),
           "--configfile", str(ROOT / "config/ci.yaml"), "--cores", "2", *targets]
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # own process group: snakemake and its jobs die together


def _kill_during_dump(work: Path, run_dir: Path, targets: list[str], timeout: float = 120.0) -> list[Path]:
    """Run the dumps and SIGKILL the group at the first partial dump; returns the partial files seen.

    Returns [] if the run ended (or a dump completed) before a partial file was seen.
    """
    proc = _start(work, *targets)
    seen: list[Path] = []
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen = _partial_dumps(run_dir)
            if seen:
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None and not seen:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finished = [t for t in targets if (work / t).exists()]
    return [] if finished else seen


def test_killed_dump_resumes_to_identical_bytes(ci_run, tmp_path):
    work = tmp_path / "resume"
    run_dir = work / "results" / ci_run.name
    _copy_up_to_date(ci_run, run_dir)
    targets = _dump_targets(ci_run.name)

    for _ in range(ATTEMPTS):
        shutil.rmtree(run_dir / "dump", ignore_errors=True)
        partial = _kill_during_dump(work, run_dir, targets)
        if partial:
            break
    else:
        pytest.fail(f"no dump job was caught in progress in {ATTEMPTS} attempts")

    # Killed mid-dump: nothing under a final name, and the partial file is not a Parquet file.
    assert not [t for t in targets if (work / t).exists()]
    for tmp in partial:
        if tmp.exists():  # it can only vanish by a rename, and no final file exists
            with pytest.raises(Exception):
                pq.read_metadata(tmp)
    assert any((work / ".snakemake" / "locks").iterdir()), "a killed run leaves its lock"

    proc = run_snakemake(work, "--unlock")
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_snakemake(work, *targets)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    assert sorted(p.name for p in (run_dir / "logs").iterdir()) == ["dump"], "only the dumps were to do"
    for pair in PAIRS:
        resumed, reference = run_dir / "dump" / pair / "eval.parquet", ci_run / "dump" / pair / "eval.parquet"
        assert resumed.read_bytes() == reference.read_bytes(), pair
