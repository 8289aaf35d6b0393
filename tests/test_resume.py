"""Kill and resume: a ci run killed during the dump leaves no complete-looking dump and resumes to the same bytes.

A copy of the finished ci run's models, data, generations and scores (up to date by their
modification times) is run to its dumps in its own process group. As soon as a dump
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

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, copy_up_to_date, run_snakemake

PAIRS = ("rl", "sft")
ATTEMPTS = 3  # a dump that starts and finishes between two polls is retried, never counted as a pass


def _dump_targets(run: str) -> list[str]:
    return [f"results/{run}/dump/{pair}/eval.parquet" for pair in PAIRS]


def _partial_dumps(run_dir: Path) -> list[Path]:
    """Temporary siblings of the dump outputs (``.eval.parquet.<random>.tmp``)."""
    return [p for pair in PAIRS if (run_dir / "dump" / pair).is_dir()
            for p in (run_dir / "dump" / pair).glob(".eval.parquet.*.tmp")]


def _start(work: Path, log: Path, *targets: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(work),
           "--configfile", str(ROOT / "config/ci.yaml"), "--cores", "2", *targets]
    env = dict(os.environ, PYTHONHASHSEED="0")
    with open(log, "w") as out:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # own process group: snakemake and its jobs die together


def _kill_during_dump(work: Path, run_dir: Path, targets: list[str], log: Path,
                      timeout: float = 180.0) -> list[Path]:
    """Run the dumps and SIGKILL the group at the first partial dump; returns the partial files seen.

    Returns [] if no partial file was seen while the run was alive, or if a dump completed
    (a rename between the poll and the kill): the caller then tries again.
    """
    proc = _start(work, log, *targets)
    seen: list[Path] = []
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            seen = _partial_dumps(run_dir)
            if seen:
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    if any((work / t).exists() for t in targets):
        return []
    return seen


def test_killed_dump_resumes_to_identical_bytes(ci_run, tmp_path):
    work = tmp_path / "resume"
    run_dir = work / "results" / ci_run.name
    copy_up_to_date(ci_run, run_dir, ("data", "models", "generations", "eval"))
    targets = _dump_targets(ci_run.name)

    log = tmp_path / "killed_run.log"
    for _ in range(ATTEMPTS):
        shutil.rmtree(run_dir / "dump", ignore_errors=True)
        shutil.rmtree(work / ".snakemake" / "locks", ignore_errors=True)  # left by a retried attempt
        partial = _kill_during_dump(work, run_dir, targets, log)
        if partial:
            break
    else:
        pytest.fail(f"no dump job was caught in progress in {ATTEMPTS} attempts:\n{log.read_text()[-3000:]}")

    # Killed mid-dump: nothing under a final name; the partial file stays behind and is not a Parquet file.
    assert not [t for t in targets if (work / t).exists()]
    for tmp in partial:
        assert tmp.exists(), tmp
        with pytest.raises(pa.ArrowInvalid):
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
    assert not [t for t in partial if t.exists()], "the rerun removes the killed attempt's temporaries"
