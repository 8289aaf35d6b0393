"""Both engines and the budget sweep against a per-token loop written apart from the engine code.

The engines share their state, rule, context and draw code, so comparing them with each
other cannot catch a wrong budget rule, a wrong "effective" definition or a truncation bug.
The loop below shares nothing with them but the model, the tokenizer and ``keyed_uniform``
(the definition of the keys): it runs each row alone, re-reads the whole prefix every step
(no KV cache), and has its own softmax, top-p truncation (ties by token id), JS, inverse-CDF
draw and switch counting. Models run in float64, so a decision can only differ by a bug.
"""

from __future__ import annotations

import math

import pytest
import torch
from tokenshift.crosssample import CrossSpec, cross_sample_batch, sweep_batch
from tokenshift.distributions.keyed import STREAM_INTERVENTION, STREAM_PRIMARY, keyed_uniform
from tokenshift.generation.sampler import SamplingParams
from tokenshift.models.loading import load_model, load_tokenizer

PROMPTS = ["12+34=", "5-6+77-1=", "9=", "123+4-5+6=", "88-9=", "1+2+3+4+5+6+7="]
SEED, TOP_P, EPS, MAX_NEW = 7, 0.9, 0.1, 24


def softmax(logits: list[float]) -> list[float]:
    m = max(logits)
    e = [math.exp(x - m) for x in logits]
    z = sum(e)
    return [x / z for x in e]


def top_p(p: list[float], keep_mass: float) -> list[float]:
    """Keep the most likely tokens (ties: lower id first) until the mass before a token reaches keep_mass."""
    kept, mass = [0.0] * len(p), 0.0
    for i in sorted(range(len(p)), key=lambda i: (-p[i], i)):
        if mass >= keep_mass:
            break
        kept[i] = p[i]
        mass += p[i]
    z = sum(kept)
    return [x / z for x in kept]


def js(p: list[float], q: list[float]) -> float:
    total = 0.0
    for a, b in zip(p, q):
        m = (a + b) / 2
        total += (a * math.log(a / m) if a > 0 else 0.0) + (b * math.log(b / m) if b > 0 else 0.0)
    return total / 2


def draw(p: list[float], u: float) -> int:
    """Inverse CDF in token-id order: the first token whose cumulative mass exceeds u."""
    acc = 0.0
    for i, x in enumerate(p):
        acc += x
        if x > 0 and acc > u * sum(p):
            return i
    return max(i for i, x in enumerate(p) if x > 0)


def next_dist(model, ids: list[int], vocab: int) -> list[float]:
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1, :vocab]
    return top_p(softmax(logits.tolist()), TOP_P)


def reference_row(prim, inter, vocab, prompt, pid, sid, budget, eos):
    """(response ids, [(position, js, primary token, drawn token)]) of one row, JS rule, independent noise."""
    response, switches = [], []
    for t in range(MAX_NEW):
        p, q = next_dist(prim, prompt + response, vocab), next_dist(inter, prompt + response, vocab)
        key = (SEED, torch.tensor(pid), torch.tensor(sid), torch.tensor(t))
        own = draw(p, float(keyed_uniform(*key, STREAM_PRIMARY)))
        d = js(p, q)
        if d > EPS and len(switches) < budget:
            tok = draw(q, float(keyed_uniform(*key, STREAM_INTERVENTION)))
            switches.append((t, d, own, tok))
        else:
            tok = own
        response.append(tok)
        if tok == eos:
            break
    return response, switches


@pytest.fixture(scope="module")
def setup(tiny_pair):
    base_dir, tuned_dir = tiny_pair
    tok = load_tokenizer(base_dir)
    prim, inter = load_model(base_dir, dtype="float64"), load_model(tuned_dir, dtype="float64")
    rows = [(i, s) for i in range(len(PROMPTS)) for s in range(2)]
    ids = [[tok.bos_token_id] + tok.encode(PROMPTS[i], add_special_tokens=False) for i, _ in rows]
    pid, sid = torch.tensor([i for i, _ in rows]), torch.tensor([s for _, s in rows])
    refs = {b: [reference_row(prim, inter, len(tok), x, int(p), int(s), b, tok.eos_token_id)
                for x, p, s in zip(ids, pid, sid)] for b in (0, 1, 2, 1000)}
    return tok, prim, inter, ids, pid, sid, refs


def same(results, refs) -> None:
    for r, (resp, sw) in zip(results, refs):
        assert r.response_ids == resp
        assert [(s.position, s.primary_token, s.intervention_token) for s in r.switches] == [x[:1] + x[2:] for x in sw]
        assert [s.score for s in r.switches] == pytest.approx([x[1] for x in sw], abs=1e-12)
        assert r.n_effective == sum(own != tok for _, _, own, tok in sw)


def test_reference_exercises_budget_and_both_switch_kinds(setup):
    *_, refs = setup
    unlimited = [sw for _, sw in refs[1000]]
    assert any(len(sw) > 2 for sw in unlimited)  # budget 2 binds
    all_switches = [x for sw in unlimited for x in sw]
    assert any(own != tok for _, _, own, tok in all_switches) and any(own == tok for _, _, own, tok in all_switches)


@pytest.mark.parametrize("engine,chunk", [("naive", "adaptive"), ("fast", "adaptive"), ("fast", "fixed")])
@pytest.mark.parametrize("budget", [2, 1000])
def test_engines_equal_the_independent_loop(setup, engine, chunk, budget):
    tok, prim, inter, ids, pid, sid, refs = setup
    spec = CrossSpec(EPS, (0, budget), SamplingParams(SEED, 1.0, TOP_P, MAX_NEW), engine=engine, chunk=chunk,
                     chunk_size=3)
    results, _ = cross_sample_batch(prim, inter, len(tok), ids, pid, sid, spec, tok.eos_token_id, tok.pad_token_id)
    same(results, refs[budget])


@pytest.mark.parametrize("engine", ["naive", "fast"])
def test_sweep_equals_the_independent_loop(setup, engine):
    tok, prim, inter, ids, pid, sid, refs = setup
    spec = CrossSpec(EPS, (0, 1, 2, 1000), SamplingParams(SEED, 1.0, TOP_P, MAX_NEW), engine=engine)
    swept, stats = sweep_batch(prim, inter, len(tok), ids, pid, sid, spec, tok.eos_token_id, tok.pad_token_id,
                               fork_batch_size=5)
    assert stats.n_forks > 0
    for b in spec.budgets:
        same(swept[b], refs[b])
