"""Real Snakemake runs on config/ci.yaml: every target, determinism, lint, bad input."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, copy_up_to_date, run_snakemake

CI = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())


def test_every_foundation_target_exists(ci_run):
    for model in ("base", "rl", "sft"):
        assert (ci_run / "models" / model / "model.safetensors").is_file()
        gens = pl.read_parquet(ci_run / "generations" / model / "eval.parquet")
        assert gens.columns == ["problem_id", "sample_idx", "prompt", "prompt_ids", "response_ids",
                                "response_text", "finish_reason"]
        assert gens.height == CI["task"]["n_eval"] * CI["sampling"]["n_samples"]
    assert any((ci_run / "models" / "rl_checkpoints").glob("checkpoint-*/model.safetensors"))
    acc = pl.read_csv(ci_run / "tables" / "accuracy.csv")
    assert acc.columns == ["model", "dataset", "n_problems", "n_samples", "mean_at_n", "ci_low", "ci_high"]
    # with the variants, rl's checkpoints and the matched SFT
    assert sorted(acc["model"]) == ["base", "dapo_s0", "highkl_s0", "rl", "rl_step16", "rl_step8", "sft", "sft_matched",
                                    "simplerl_s0"]
    assert (acc["ci_low"] <= acc["mean_at_n"]).all() and (acc["mean_at_n"] <= acc["ci_high"]).all()
    for ext in ("pdf", "png"):
        assert (ci_run / "figures" / f"accuracy.{ext}").stat().st_size > 1000


def test_generation_metadata(ci_run):
    meta = pq.read_schema(ci_run / "generations" / "rl" / "eval.parquet").metadata
    assert b"top_p" in meta and b"temperature" in meta and b"model" in meta


def test_rerun_gives_byte_identical_parquet(ci_run, tmp_path):
    """Same config and seed on CPU -> byte-identical generations (models reused)."""
    work = tmp_path / "again"
    run_dir = work / "results" / ci_run.name
    copy_up_to_date(ci_run, run_dir, ("data", "models"))
    target = f"results/{ci_run.name}/generations/rl/eval.parquet"
    proc = run_snakemake(work, target)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert [p.name for p in (run_dir / "logs").iterdir()] == ["generate"], "the copies are up to date"
    fresh, first = run_dir / "generations/rl/eval.parquet", ci_run / "generations/rl/eval.parquet"
    assert fresh.read_bytes() == first.read_bytes()


def test_nothing_left_to_do_after_run(ci_workdir):
    proc = run_snakemake(ci_workdir, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lint_is_clean(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--lint",
                           "--configfile", str(ROOT / "config/ci.yaml"), "--directory", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr


@pytest.mark.parametrize("override, expected", [
    ("task: {n_trian: 3}", "task.n_trian' is not allowed"),
    ("sampling: {n_samples: -1}", "sampling.n_samples"),
    ("bogus_key: 1", "bogus_key' is not allowed"),
    ("pairs: [{name: x, base: base, tuned: nosuch}]", "unknown model 'nosuch'"),
    ("crosssample: {budgets: [0, 4, 4]}", "crosssample.budgets' must not repeat a value"),
    ("crosssample: {budgets: [1, 4]}", "crosssample.budgets' must include 0"),
    ("jobs: {dump: {shards: 0}}", "jobs.dump.shards': 0 is less than the minimum of 1"),
    ("sampling: {backend: tgi}", "sampling.backend': 'tgi' is not one of ['hf', 'vllm']"),
    ("sampling: {backend: vllm, vllm: {tensor_parallel_size: 2}}",
     "tensor_parallel_size': 2 is more than the 0 GPU(s) a generation job requests"),
    ("models: {base: {}, rl: {}, sft: {path: null}}", "models.sft.path' is unset"),
])
def test_bad_config_is_one_line_without_traceback(tmp_path, override, expected):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text((ROOT / "config/ci.yaml").read_text() + "\n" + override + "\n")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n", "--cores", "1",
                           "--configfile", str(cfg), "--directory", str(tmp_path)],
                          capture_output=True, text=True, cwd=ROOT)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert expected in out
    assert "Traceback" not in out
    assert not (tmp_path / "results").exists()


def test_dataset_row_without_answer_fails_before_generation(ci_run, tmp_path):
    work = tmp_path / "w"
    run_dir = work / "results" / ci_run.name
    copy_up_to_date(ci_run, run_dir, ("data", "models"))
    data = pl.read_parquet(run_dir / "data" / "eval.parquet")
    data.with_columns(pl.when(pl.col("problem_id") == 3).then(None).otherwise(pl.col("answer")).alias("answer")) \
        .write_parquet(run_dir / "data" / "eval.parquet")
    target = f"results/{ci_run.name}/generations/base/eval.parquet"
    proc = run_snakemake(work, target)
    assert proc.returncode != 0
    log = (run_dir / "logs" / "generate" / "base" / "eval.log").read_text()
    assert "problem_id 3 has no answer" in log
    assert not (run_dir / "generations" / "base" / "eval.parquet").exists()
    assert not list((run_dir / "generations" / "base").glob("*.tmp"))
