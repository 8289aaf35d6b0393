"""Cross-sampling engines: the fast engine equals the step-by-step reference token for token.

Models run in float64: a chunked verification pass and one-token passes round differently,
and in float32 a JS value or a keyed uniform landing within rounding of a threshold or a CDF
boundary could flip a decision. In float64 such ties are practically impossible, so any
difference is a bug in the engine, not rounding.
"""

from __future__ import annotations

import functools

import pytest
import torch
from tokenshift.crosssample import AdaptiveChunks, CrossSpec, cross_sample_batch, sweep_batch
from tokenshift.generation.sampler import SamplingParams, encode_prompt, sample_batch
from tokenshift.models.loading import load_model, load_tokenizer

PROMPTS = ["12+34=", "5-6+77-1=", "9=", "123+4-5+6=", "88-9=", "1+2+3+4+5+6+7="]
MAX_NEW = 32


@pytest.fixture(scope="module")
def setup(tiny_pair):
    base_dir, tuned_dir = tiny_pair
    tok = load_tokenizer(base_dir)
    models = {"base": load_model(base_dir, dtype="float64"), "tuned": load_model(tuned_dir, dtype="float64")}
    ids = [encode_prompt(tok, p) for p in PROMPTS for _ in range(2)]  # ragged prompt lengths
    pid = torch.tensor([i for i in range(len(PROMPTS)) for _ in range(2)])
    sid = torch.tensor([s for _ in PROMPTS for s in range(2)])
    return tok, models, ids, pid, sid


def make_spec(eps, budget, engine, top_p=1.0, chunk=("adaptive", 4), noise="independent", rate=None, rule="js",
              seed=7, temperature=1.0):
    params = SamplingParams(seed=seed, temperature=temperature, top_p=top_p, max_new_tokens=MAX_NEW)
    return CrossSpec(eps, (0, budget) if budget else (0,), params, engine=engine, chunk=chunk[0], chunk_size=chunk[1],
                     noise=noise, rule=rule, mode="targeted" if rate is None else "random", random_rate=rate)


def run(setup, direction, eps, budget, engine, top_p=1.0, chunk=("adaptive", 4), noise="independent", rate=None):
    tok, models, ids, pid, sid = setup
    prim, inter = (models["base"], models["tuned"]) if direction == "forward" else (models["tuned"], models["base"])
    spec = make_spec(eps, budget, engine, top_p, chunk, noise, rate)
    return cross_sample_batch(prim, inter, len(tok), ids, pid, sid, spec, tok.eos_token_id, tok.pad_token_id)


def as_tuples(results):
    return [(r.response_ids, r.finish_reason, r.switches) for r in results]


@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("eps,top_p", [(0.0, 1.0), (0.012, 1.0), (0.1, 0.9)])
@pytest.mark.parametrize("budget", [2, 1000])
def test_fast_equals_reference(setup, direction, eps, top_p, budget):
    ref, ref_stats = run(setup, direction, eps, budget, "naive", top_p)
    for chunk in (("adaptive", 4), ("fixed", 1), ("fixed", 3)):
        fast, fast_stats = run(setup, direction, eps, budget, "fast", top_p, chunk)
        assert as_tuples(fast) == as_tuples(ref), chunk
        assert fast_stats.tokens == ref_stats.tokens
    assert all(r.n_switches <= budget for r in ref)


def test_exactness_cases_are_exercised(setup):
    """The matrix above covers identity and effective switches, exhausted budgets, EOS mid-chunk."""
    results, _ = run(setup, "forward", 0.012, 1000, "naive")
    switches = [s for r in results for s in r.switches]
    assert any(s.effective for s in switches) and any(not s.effective for s in switches)
    assert any(0 < r.n_switches < len(r.response_ids) for r in results)
    capped, _ = run(setup, "forward", 0.012, 2, "naive")
    assert any(r.n_switches == 2 for r in capped)
    stops = [len(r.response_ids) for r in results if r.finish_reason == "stop"]
    assert any(n % 3 for n in stops) and any(r.finish_reason == "length" for r in results)


@pytest.mark.parametrize("noise", ["independent", "shared"])
def test_random_baseline_fast_equals_reference(setup, noise):
    ref, _ = run(setup, "forward", 0.0, 5, "naive", rate=0.3, noise=noise)
    fast, _ = run(setup, "forward", 0.0, 5, "fast", rate=0.3, noise=noise)
    assert as_tuples(fast) == as_tuples(ref)
    assert any(r.n_switches for r in ref)


def test_budget_zero_equals_plain_generation(tiny_pair):
    """In the sampling dtype (float32), not only float64: the same passes give the same bits."""
    base_dir, tuned_dir = tiny_pair
    tok = load_tokenizer(base_dir)
    prim, inter = load_model(base_dir), load_model(tuned_dir)
    ids = [encode_prompt(tok, p) for p in PROMPTS]
    pid, sid = torch.arange(len(PROMPTS)) + 10, torch.full((len(PROMPTS),), 3)
    params = SamplingParams(seed=5, temperature=0.8, top_p=0.9, max_new_tokens=MAX_NEW)
    plain = sample_batch(prim, len(tok), ids, pid, sid, params, tok.eos_token_id, tok.pad_token_id)
    for engine in ("naive", "fast"):
        spec = make_spec(0.0, 0, engine, top_p=0.9, seed=5, temperature=0.8)
        cross, stats = cross_sample_batch(prim, inter, len(tok), ids, pid, sid, spec, tok.eos_token_id,
                                          tok.pad_token_id)
        assert [(r.response_ids, r.finish_reason) for r in cross] == plain
        assert all(r.n_switches == 0 for r in cross)


def test_identical_models_never_switch_effectively(setup):
    tok, models, *_ = setup
    same = {"base": models["base"], "tuned": models["base"]}
    same_setup = (tok, same, *setup[2:])
    for engine in ("naive", "fast"):
        targeted, _ = run(same_setup, "forward", 0.0, 1000, engine)
        assert all(r.n_switches == 0 for r in targeted)  # JS of identical rows is exactly 0
        everywhere, _ = run(same_setup, "forward", 0.0, 1000, engine, rate=1.0, noise="shared")
        assert all(r.n_switches == len(r.response_ids) and r.n_effective == 0 for r in everywhere)
        plain, _ = run(same_setup, "forward", 0.0, 0, engine)
        assert [r.response_ids for r in everywhere] == [r.response_ids for r in plain]


@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("engine", ["fast"])
def test_sweep_equals_independent_runs(setup, direction, engine):
    tok, models, ids, pid, sid = setup
    prim, inter = (models["base"], models["tuned"]) if direction == "forward" else (models["tuned"], models["base"])
    params = SamplingParams(seed=7, temperature=1.0, top_p=1.0, max_new_tokens=MAX_NEW)
    budgets = (0, 1, 3, 1000)
    spec = CrossSpec(0.012, budgets, params, engine=engine)
    swept, stats = sweep_batch(prim, inter, len(tok), ids, pid, sid, spec, tok.eos_token_id, tok.pad_token_id,
                               fork_batch_size=5)
    assert stats.n_forks > 0
    for b in budgets:
        direct, _ = run(setup, direction, 0.012, b, "naive")
        assert as_tuples(swept[b]) == as_tuples(direct), b


@functools.cache
def _adaptive(n_eff: int, n_tok: int) -> int:
    return AdaptiveChunks().gamma(torch.tensor([n_eff]), torch.tensor([n_tok]))


def test_adaptive_chunk_shrinks_with_switch_rate():
    assert _adaptive(0, 10_000) == 16
    assert _adaptive(100, 1000) < _adaptive(10, 1000) < _adaptive(0, 1000)
    assert _adaptive(900, 1000) == 1
    # the row that switches most sets the pace of the batch
    assert AdaptiveChunks().gamma(torch.tensor([0, 100]), torch.tensor([1000, 1000])) == _adaptive(100, 1000)
