"""The GPU check cannot rot: its ``--tiny`` size runs the same code on a CPU in seconds, and every record it
prints is JSON with the expected keys and finite, positive rates."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMMON = {"name", "size", "device", "dtype", "models", "params", "vocab", "rows", "batch_size", "max_new_tokens",
          "top_p", "threads"}
EXPECTED = {
    "gpu_check_sampling": {"tokens_per_s", "tokens", "seconds", "peak_mib"},
    "gpu_check_crosssample": {"ratio", "fast_vs_sampling", "naive_vs_sampling", "fast_vs_naive", "tokens_per_s_fast",
                              "tokens_per_s_naive", "tokens_per_s_plain", "switch_rate_effective", "eps", "peak_mib"},
    "gpu_check_dump": {"ratio", "dump_tokens_per_s", "forward_tokens_per_s", "tokens", "vocab_decode_s", "peak_mib"},
    "gpu_check_memory": {"peak_mib", "resident_mib", "batch", "planned_batch"},
    "gpu_check_decisions": {"positions", "mask_mismatch_rate", "mask_mismatch_rate_intervention",
                            "switch_mismatch_rate", "token_mismatch_rate", "token_mismatch_rate_intervention",
                            "upcast_mismatches", "eps"},
}
RATES = {  # finite and > 0
    "gpu_check_sampling": ("tokens_per_s",),
    "gpu_check_crosssample": ("ratio", "fast_vs_sampling", "naive_vs_sampling", "fast_vs_naive", "tokens_per_s_fast",
                              "tokens_per_s_naive", "tokens_per_s_plain"),
    "gpu_check_dump": ("ratio", "dump_tokens_per_s", "forward_tokens_per_s"),
}
SHARES = ("mask_mismatch_rate", "mask_mismatch_rate_intervention", "switch_mismatch_rate", "token_mismatch_rate",
          "token_mismatch_rate_intervention", "switch_rate")


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[list[dict], Path]:
    """The records of one ``--tiny`` run (printed lines) and the directory it ran in."""
    cwd = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--tiny"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    return [json.loads(line) for line in lines], cwd


def test_every_record_is_json_with_the_expected_keys(tiny_run):
    records, _ = tiny_run
    assert [r["name"] for r in records] == list(EXPECTED)
    for r in records:
        missing = (COMMON | EXPECTED[r["name"]]) - set(r)
        assert not missing, (r["name"], missing)
        assert r["size"] == "tiny" and r["device"] == "cpu" and r["dtype"] == "bfloat16"


def test_rates_are_finite_and_positive(tiny_run):
    records, _ = tiny_run
    for r in records:
        for key in RATES.get(r["name"], ()):
            assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, (r["name"], key, r[key])


def test_decision_shares_and_memory_fields(tiny_run):
    records, _ = tiny_run
    by_name = {r["name"]: r for r in records}
    dec = by_name["gpu_check_decisions"]
    assert dec["positions"] > 0
    for key in SHARES:
        assert 0.0 <= dec[key] <= 1.0, (key, dec[key])
    # Deciding from bf16 logits is deciding from the same logits cast to float32 first.
    assert dec["upcast_mismatches"] == 0
    mem = by_name["gpu_check_memory"]
    assert set(mem["peak_mib"]) == {"plain", "naive", "fast", "dump", "forward"}
    assert all(v is None for v in mem["peak_mib"].values())  # no CUDA memory on a CPU
    assert mem["planned_batch"] is None and all(b >= 1 for b in mem["batch"].values())


def test_records_are_written_like_every_benchmark(tiny_run):
    records, cwd = tiny_run
    path = cwd / "results" / "bench" / "gpu_check_tiny.jsonl"
    assert [json.loads(line) for line in path.read_text().splitlines()] == records
