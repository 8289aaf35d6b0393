"""Shared fixtures: tiny real HF models built locally, and one real Snakemake run on config/ci.yaml."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tokenshift.pipeline.threads import THREAD_VARIABLES  # imports neither torch nor polars

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist's workers share the cores: one thread each (set before torch loads its thread pools), or
    # their spinning OpenMP threads fight over the cores. Rule scripts bind their own threads.
    for _var in THREAD_VARIABLES:
        os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
import torch
from hypothesis import settings
from tokenshift.data.vocab import build_char_tokenizer
from tokenshift.models.loading import build_tiny_llama

if TYPE_CHECKING:  # polars is imported where used: the verl venv runs this conftest without it
    import polars as pl

ROOT = Path(__file__).resolve().parents[1]
# No per-example deadline: tests never assert on wall time, and pytest-xdist's workers share the cores.
settings.register_profile("tokenshift", deadline=None)
settings.load_profile("tokenshift")
# Debian's chromium, driven by Playwright's Python driver (Playwright's own browser download is not used).
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="this browser test needs Debian's chromium "
                                    "(apt-get install chromium)")


# The longest modules (minutes each on 2 cores), in the order pytest-xdist should start them: it hands modules out
# in collection order (--no-loadscope-reorder), so these start early instead of running last on one worker while
# the other idles. test_sharding is the first to need ci_run and builds it while the other worker runs SmolLM2.
LONGEST_FIRST = ("test_sharding.py", "test_smollm2.py", "test_resume.py", "test_config_files.py",
                 "test_fingerprints.py", "test_workflow.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture
def browser_page():
    """A headless Chromium page and the list its console errors and uncaught exceptions go to."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        yield page, errors
        browser.close()


def save_tiny_model(out: Path, seed: int, hidden: int = 32, layers: int = 2, heads: int = 2,
                    perturb_from: Path | None = None, scale: float = 0.0) -> Path:
    """A random tiny Llama + char tokenizer saved as a HF safetensors dir.

    With ``perturb_from`` the weights are that model's plus Gaussian noise of ``scale``,
    a stand-in "fine-tuned" model that shares the base's tokenizer.
    """
    tok = build_char_tokenizer()
    model = build_tiny_llama(tok, hidden, layers, heads, 256, seed)
    if perturb_from is not None:
        ref = type(model).from_pretrained(str(perturb_from))
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p, q in zip(model.parameters(), ref.parameters()):
                p.copy_(q + scale * torch.randn(q.shape, generator=gen))
    model.save_pretrained(str(out), safe_serialization=True)
    tok.save_pretrained(str(out))
    return out


SWEEP_PROMPTS = ["12+34=", "5-6+77-1=", "9=", "123+4-5+6=", "88-9=", "1+2+3+4+5+6+7="]


@pytest.fixture(scope="module")
def tiny_batch(tiny_pair):
    """(tokenizer, primary, intervention, prompt ids, problem ids, sample ids): the tiny pair loaded in float64
    (ties in keyed draws practically impossible) and a batch of SWEEP_PROMPTS x 2 samples, to sweep."""
    from tokenshift.generation.sampler import encode_prompt
    from tokenshift.models.loading import load_model, load_tokenizer

    base_dir, tuned_dir = tiny_pair
    tok = load_tokenizer(base_dir)
    prim, inter = load_model(base_dir, dtype="float64"), load_model(tuned_dir, dtype="float64")
    ids = [encode_prompt(tok, p) for p in SWEEP_PROMPTS for _ in range(2)]
    pid = torch.tensor([i for i in range(len(SWEEP_PROMPTS)) for _ in range(2)])
    sid = torch.tensor([s for _ in SWEEP_PROMPTS for s in range(2)])
    return tok, prim, inter, ids, pid, sid


@pytest.fixture(scope="session")
def tiny_pair(tmp_path_factory) -> tuple[Path, Path]:
    """(base_dir, tuned_dir): two related random tiny models with the same tokenizer."""
    root = tmp_path_factory.mktemp("tiny")
    base = save_tiny_model(root / "base", seed=0)
    tuned = save_tiny_model(root / "tuned", seed=1, perturb_from=base, scale=0.05)
    return base, tuned


def handover_from_switches(responses: pl.DataFrame, switches: pl.DataFrame) -> pl.DataFrame:
    """``responses`` with ``handover`` derived from the sweep's switches table, independently of the sweep's
    own column: a row at budget b spends its budget at its b-th switch (identity swaps count), which is the
    largest-budget run's switch with ``switch_index`` b - 1 (shared prefixes); the handover is that switch's
    position + 1, 0 at budget 0, and the row's length if it switched fewer than b times."""
    import polars as pl

    keys = ["problem_id", "sample_idx", "budget"]
    last = switches.select("problem_id", "sample_idx", (pl.col("switch_index") + 1).alias("budget"),
                           (pl.col("position") + 1).alias("_after"))
    out = responses.join(last, on=keys, how="left", maintain_order="left")
    spent = (pl.col("budget") > 0) & (pl.col("n_switches") >= pl.col("budget"))
    assert out.filter(spent & (pl.col("_after").is_null() | (pl.col("_after") > pl.col("length")))).height == 0
    handover = pl.when(pl.col("budget") == 0).then(0).when(spent).then(pl.col("_after")).otherwise(pl.col("length"))
    return out.with_columns(handover.cast(pl.Int64).alias("handover")).drop("_after")


def copy_repo(dest: Path) -> Path:
    """The repository's files as a fresh clone has them (tracked and new, none that git ignores), at ``dest``:
    where a test runs the README's commands as a user types them, from the repository root."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    return dest


def snakemake_at_root(root: Path, *args: str, **popen) -> subprocess.CompletedProcess:
    """``snakemake ARGS`` typed at ``root`` (the venv's snakemake is this interpreter's module)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=root, capture_output=True, text=True,
                          env=env, **popen)


def run_snakemake(workdir: Path, *args: str, configfile: str = "config/ci.yaml") -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(ROOT / configfile), "--cores", "2", *args]
    env = dict(os.environ, PYTHONHASHSEED="0")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)


def copy_up_to_date(ci_run: Path, run_dir: Path, parts: tuple[str, ...]) -> None:
    """Copy ``parts`` of a finished run (in pipeline order) so that Snakemake sees them as up to date.

    A copy has no Snakemake metadata, so only modification times decide: each part is stamped
    a little later than the one before and all of them later than any source file. The organism's
    tokenizer, which the prompt sets are prepared with, is stamped first. Costs no Snakemake start,
    unlike ``--touch``.
    """
    now = time.time()
    order = [("models/tokenizer",) if "data" in parts and (ci_run / "models/tokenizer").is_dir() else (), parts]
    for i, part in enumerate(p for group in order for p in group):
        src, dst = ci_run / part, run_dir / part
        new = [dst / p.relative_to(src) for p in src.rglob("*") if not (dst / p.relative_to(src)).exists()]
        shutil.copytree(src, dst, dirs_exist_ok=True)
        stamp = now - 2 * (len(parts) + 1 - i)
        for path in [dst, *new]:
            os.utime(path, (stamp, stamp), follow_symlinks=False)


def log_lines(path: Path) -> list[str]:
    """A rule log's lines after its opening provenance line (what the script itself wrote)."""
    lines = path.read_text().strip().splitlines()
    assert lines and lines[0].startswith("provenance: "), path
    return lines[1:]


@pytest.fixture(scope="session")
def ci_run(tmp_path_factory) -> Path:
    """One full pipeline run on config/ci.yaml; returns the run's results/<name> dir.

    Made once per test session, whatever the number of pytest-xdist workers: the first worker to ask runs it
    in the folder the workers share, under a file lock; the others wait for it and reuse it (or its failure).
    """
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    work, done, failed = shared / "ci_run", shared / "ci_run.done", shared / "ci_run.failed"
    with FileLock(str(shared / "ci_run.lock")):
        if failed.exists():
            pytest.fail(failed.read_text())
        if not done.exists():
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            proc = run_snakemake(work)
            if proc.returncode != 0:
                failed.write_text(f"snakemake failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
                pytest.fail(failed.read_text())
            done.touch()
    runs = list((work / "results").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.fixture(scope="session")
def ci_workdir(ci_run: Path) -> Path:
    return ci_run.parents[1]

