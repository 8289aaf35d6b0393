"""Kill and resume, exactly as the README says: after a SIGKILL of the whole run, `snakemake --unlock` once,
then the same command again, from the repository root; the outputs equal an uninterrupted run's, byte for
byte, and no temporary is left.

A clean copy of the repository gets the finished ci run's models, data, generations and scores (up to date
by their modification times) and is run to its dumps in its own process group; the group is killed, as a
crashed node or an OOM killer would do it, in each window a kill can hit:

- while a job runs (its temporary sibling exists, its final output does not);
- right after a job's output appears, before Snakemake records the job as finished (the window that left
  an incomplete marker on a complete file and stopped the next run with IncompleteFilesException);
- while a merge rule joins a sharded stage's parts;
- at the end of train_rl, as its two output folders (checkpoints, then the model) are renamed into place.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import copy_repo, copy_up_to_date, snakemake_at_root

PAIRS = ("rl", "sft")
ATTEMPTS = 4  # a window that opens and closes between two polls is retried, never counted as a pass
UPSTREAM = ("data", "models", "generations", "eval")


def _targets(run: str) -> list[str]:
    return [f"results/{run}/dump/{pair}/eval.parquet" for pair in PAIRS]


def _temporaries(run_dir: Path) -> list[Path]:
    """Temporary siblings that atomic writes leave while a job runs (``.<name>.<random>.tmp``)."""
    return [p for p in (run_dir / "dump").rglob(".*.tmp")] if (run_dir / "dump").is_dir() else []


def _run_and_kill(root: Path, command: list[str], caught: Callable[[], bool], log: Path,
                  timeout: float = 240.0) -> bool:
    """Start ``snakemake COMMAND`` at ``root`` in its own process group and SIGKILL the group as soon as
    ``caught()`` holds; False if the run ended first."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "snakemake", *command], cwd=root, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    hit = False
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if caught():
                hit = True
                break
            time.sleep(0.001)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return hit


def _kill_and_resume(ci_run: Path, tmp_path: Path, extra_config: str | None,
                     window: Callable[[Path, list[Path]], bool], check_killed: Callable[[Path, list[Path]], bool],
                     upstream: tuple[str, ...] = UPSTREAM, targets: list[str] | None = None,
                     compare: tuple[str, ...] = tuple(f"dump/{pair}/eval.parquet" for pair in PAIRS)) -> Path:
    """Run ``targets`` (the dumps), kill in ``window``, then the README's two commands; the files ``compare``
    (relative to the run folder) must equal the finished ci run's. Returns the run folder."""
    root = copy_repo(tmp_path / "tokenshift")
    run_dir = root / "results" / ci_run.name
    copy_up_to_date(ci_run, run_dir, upstream)
    files = ["config/ci.yaml"]
    if extra_config:
        (root / "extra.yaml").write_text(extra_config)
        files.append("extra.yaml")
    targets = targets or _targets(ci_run.name)
    outputs = [root / t for t in targets]
    command = [*targets, "--cores", "2", "--configfile", *files]  # targets first: --configfile takes a list
    log = tmp_path / "killed.log"
    for _ in range(ATTEMPTS):
        if _run_and_kill(root, command, lambda: window(run_dir, outputs), log) and check_killed(run_dir, outputs):
            break
        subprocess.run(["rm", "-rf", *(str(o) for o in outputs), str(root / ".snakemake")], check=True)
    else:
        pytest.fail(f"the kill window was not hit in {ATTEMPTS} attempts:\n{log.read_text()[-3000:]}")
    assert any((root / ".snakemake" / "locks").iterdir()), "a killed run leaves its lock"

    proc = snakemake_at_root(root, "--unlock", "--configfile", *files)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = snakemake_at_root(root, *command)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in compare:
        assert (run_dir / name).read_bytes() == (ci_run / name).read_bytes(), name
    assert not [p for p in run_dir.rglob(".*.tmp")], "the rerun removes the killed attempt's temporaries"
    return run_dir


def test_killed_while_a_job_runs(ci_run, tmp_path):
    _kill_and_resume(ci_run, tmp_path, None,
                     window=lambda run, outs: bool(_temporaries(run)),
                     check_killed=lambda run, outs: not any(o.exists() for o in outs))


def _marked_incomplete(root: Path, output: Path) -> bool:
    """Whether Snakemake still holds its incomplete marker for ``output`` (its metadata names the path
    in base64 under .snakemake/incomplete)."""
    import base64

    marker = base64.urlsafe_b64encode(str(output.relative_to(root)).encode()).decode()
    return (root / ".snakemake" / "incomplete" / marker).exists()


def test_killed_after_an_output_appears_before_snakemake_records_it(ci_run, tmp_path):
    root = tmp_path / "tokenshift"
    run_dir = _kill_and_resume(
        ci_run, tmp_path, None,
        window=lambda run, outs: any(o.exists() for o in outs),
        check_killed=lambda run, outs: any(o.exists() and _marked_incomplete(root, o) for o in outs))
    assert not list((root / ".snakemake" / "incomplete").glob("*")), "the rerun cleared the markers"
    assert run_dir.is_dir()


def test_killed_during_a_merge(ci_run, tmp_path):
    def merging(run: Path, outs: list[Path]) -> bool:
        return any((run / "logs" / "merge_dump").rglob("*.log")) if (run / "logs" / "merge_dump").is_dir() else False

    _kill_and_resume(ci_run, tmp_path, "jobs:\n  dump: {shards: 2}\n", window=merging,
                     check_killed=lambda run, outs: not all(o.exists() for o in outs))


def test_killed_between_train_rl_renames(ci_run, tmp_path):
    """train_rl renames its checkpoints folder, then its model folder: a kill as soon as the first appears
    leaves the model missing or just renamed; either way the two commands finish it with the same bytes."""
    def renamed(run: Path, outs: list[Path]) -> bool:
        return (run / "models" / "rl_checkpoints").is_dir()

    def unrecorded(run: Path, outs: list[Path]) -> bool:
        return not outs[0].exists() or _marked_incomplete(run.parents[1], outs[0])

    _kill_and_resume(ci_run, tmp_path, None, window=renamed, check_killed=unrecorded,
                     upstream=("data", "models/base"), targets=[f"results/{ci_run.name}/models/rl"],
                     compare=("models/rl/model.safetensors", "models/rl_checkpoints/checkpoint-8/model.safetensors"))
