"""With ``dtype: bfloat16`` the models run in bf16 and every decision is made in float32 from their logits.

Truncation (top-p mask), divergences (JS, KL), switch decisions and keyed draws computed from bf16
logits must be identical, bit for bit, to the same computations on those logits cast to float32
first: for random logits through the library's functions, and for tiny bf16 models run end to end
through plain sampling, both cross-sampling engines and the dump, against the same models whose
logits are upcast to float32 before the library sees them.
"""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest
import torch
from tokenshift.analysis.divergence import DivergenceConfig, position_stats
from tokenshift.analysis.dump import (
    DumpOptions,
    Pair,
    Scorer,
    batch_rows,
    load_pair,
    make_batches,
    run_dump,
    score_batch,
)
from tokenshift.crosssample import CrossSpec, cross_sample_batch
from tokenshift.crosssample.context import Context
from tokenshift.distributions.divergences import js_divergence, kl_divergence
from tokenshift.distributions.draw import keyed_draw, policy_probs, policy_softmax
from tokenshift.distributions.keyed import STREAM_INTERVENTION, STREAM_PRIMARY
from tokenshift.distributions.topp import top_p_mask, top_p_masks
from tokenshift.generation.sampler import SamplingParams, encode_prompt, left_pad, sample_batch
from tokenshift.models.decoding import Decoder
from tokenshift.models.loading import load_model, load_tokenizer

V_LARGE = 3000  # beyond every head size of tokenshift.distributions.topp: its CPU shortcuts run


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """bf16 kernels on a busy CPU with few cores run several times faster on one thread than on more."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def bf16_logits(n: int, v: int, seed: int) -> torch.Tensor:
    """Rows of bf16 logits from flat to peaked (bf16 rounding also makes many exact ties)."""
    gen = torch.Generator().manual_seed(seed)
    scale = torch.tensor([0.5, 2.0, 4.0, 8.0]).repeat(n // 4 + 1)[:n].unsqueeze(1)
    return (torch.randn(n, v, generator=gen) * scale).to(torch.bfloat16)


def keys(n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.arange(n) // 3, torch.arange(n) % 3, torch.arange(n) * 7 % 50


@pytest.mark.parametrize("v", [40, V_LARGE])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_decisions_from_bf16_logits_are_those_from_their_float32_cast(v, temperature):
    lp, li = bf16_logits(48, v, 0), bf16_logits(48, v, 1)
    lp32, li32 = lp.float(), li.float()
    pid, sid, pos = keys(48)
    for top_p in (0.7, 0.9, 1.0):
        probs, trunc = policy_probs(lp, temperature, top_p)
        probs32, trunc32 = policy_probs(lp32, temperature, top_p)
        assert probs.dtype == trunc.dtype == torch.float32
        assert torch.equal(probs, probs32) and torch.equal(trunc, trunc32)
        inter, inter32 = policy_probs(li, temperature, top_p)[1], policy_probs(li32, temperature, top_p)[1]
        assert torch.equal(inter, inter32)
        assert torch.equal(js_divergence(trunc, inter), js_divergence(trunc32, inter32))
        assert torch.equal(kl_divergence(trunc, inter), kl_divergence(trunc32, inter32))
        for stream in (STREAM_PRIMARY, STREAM_INTERVENTION):
            assert torch.equal(keyed_draw(trunc, 3, pid, sid, pos, stream),
                               keyed_draw(trunc32, 3, pid, sid, pos, stream))
    soft, soft32 = policy_softmax(lp, temperature), policy_softmax(lp32, temperature)
    for m, m32 in zip(top_p_masks(soft, [0.5, 0.8, 0.95]), top_p_masks(soft32, [0.5, 0.8, 0.95])):
        assert torch.equal(m, m32)


def test_the_identity_is_not_vacuous_deciding_in_bf16_would_differ():
    """Top-p of a softmax taken in bf16 (sorted and summed in bf16) differs from the float32 decision on
    some rows: the tests above would catch a decision path that stopped upcasting."""
    lp = bf16_logits(64, V_LARGE, 2)
    in_bf16 = top_p_mask(torch.softmax(lp, dim=-1), 0.9)
    in_f32 = top_p_mask(policy_softmax(lp, 1.0), 0.9)
    assert (in_bf16 != in_f32).any(-1).sum() > 0


def test_engine_context_decides_identically_on_bf16_and_upcast_logits():
    """What both cross-sampling engines call per chunk: truncation, the switch rule, the draws."""
    b, g = 6, 4
    lp = bf16_logits(b * g, V_LARGE, 3)
    noise = torch.randn(lp.shape, generator=torch.Generator().manual_seed(4)) * torch.linspace(0.0, 1.0, b * g)[:, None]
    li = (lp.float() + noise).to(torch.bfloat16)  # from identical to far apart, row by row
    params = SamplingParams(5, 0.8, 0.9, 16)
    spec = CrossSpec(0.05, (0, 16), params)
    ctx = Context.build(params, spec.switch_rule(), spec.intervention_stream, torch.arange(b), torch.zeros(b))
    positions = torch.arange(g).expand(b, g) + 3
    out = []
    for p_logits, i_logits in ((lp, li), (lp.float(), li.float())):
        tp, ti = ctx.truncated(p_logits), ctx.truncated(i_logits)
        fires, score = ctx.decide(tp, ti, positions)
        out.append((tp, ti, fires, score, ctx.draw(tp, ctx.uniforms(positions, False)),
                    ctx.draw(ti, ctx.uniforms(positions, True))))
    for x, y in zip(*out):
        assert torch.equal(x, y)
    assert 0 < int(out[0][2].sum()) < b * g  # the rule fires at some positions, not all


def test_dump_statistics_from_bf16_logits_are_those_from_their_float32_cast():
    lb, lt = bf16_logits(40, V_LARGE, 5), bf16_logits(40, V_LARGE, 6)
    tokens = torch.arange(40) * 37 % V_LARGE
    cfg = DivergenceConfig(top_p=0.9, extra_top_p=(0.7, 0.8), temperature=0.9)
    a, b = position_stats(lb, lt, tokens, cfg), position_stats(lb.float(), lt.float(), tokens, cfg)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


# --- tiny models run end to end in bfloat16 ---------------------------------------------------------------


class Upcast(torch.nn.Module):
    """The wrapped model with its logits cast to float32 before any caller sees them."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.inner = model

    def forward(self, **kwargs):
        out = self.inner(**kwargs)
        out.logits = out.logits.float()
        return out


class UpcastScorer(Scorer):
    """The dump's scorer whose head's logits are cast to float32 before the statistics see them."""

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return super().head(h).float()


@pytest.fixture(scope="module")
def bf16_setup(tiny_pair):
    base, tuned = tiny_pair
    tok = load_tokenizer(base)
    prim, inter = load_model(base, "bfloat16"), load_model(tuned, "bfloat16")
    prompts = [encode_prompt(tok, p) for p in ("12+34=", "5+67+8=", "90-1=", "3+3+3+3=", "71+2=", "44-9+1=")]
    n = len(prompts)
    return tok, prim, inter, prompts, torch.arange(n) + 10, torch.arange(n) % 2


def test_bf16_models_hand_bf16_logits_to_the_decisions(bf16_setup):
    tok, prim, _, prompts, _, _ = bf16_setup
    assert next(prim.parameters()).dtype == torch.bfloat16
    ids, mask = left_pad(prompts, tok.pad_token_id)
    assert Decoder(prim, len(tok)).prefill(ids, mask).dtype == torch.bfloat16


def test_sampling_in_bf16_decides_as_on_upcast_logits_and_reproduces_itself(bf16_setup):
    tok, prim, _, prompts, pid, sid = bf16_setup
    params = SamplingParams(7, 1.0, 0.9, 24)
    args = (prompts, pid, sid, params, tok.eos_token_id, tok.pad_token_id)
    a = sample_batch(prim, len(tok), *args)
    assert a == sample_batch(Upcast(prim), len(tok), *args)
    assert a == sample_batch(prim, len(tok), *args)


@pytest.mark.parametrize("engine", ["naive", "fast"])
def test_cross_sampling_in_bf16_decides_as_on_upcast_logits(bf16_setup, engine):
    tok, prim, inter, prompts, pid, sid = bf16_setup
    spec = CrossSpec(0.1, (0, 24), SamplingParams(7, 1.0, 0.9, 24), engine=engine, chunk_size=4)
    args = (len(tok), prompts, pid, sid, spec, tok.eos_token_id, tok.pad_token_id)
    res, _ = cross_sample_batch(prim, inter, *args)
    up, _ = cross_sample_batch(Upcast(prim), Upcast(inter), *args)
    assert res == up  # tokens, finish reasons and every switch (position, score, both draws)
    assert res == cross_sample_batch(prim, inter, *args)[0]
    n_switches = sum(r.n_switches for r in res)
    assert 0 < n_switches < sum(len(r.response_ids) for r in res)


def test_dump_in_bf16_decides_as_on_upcast_logits(bf16_setup, tiny_pair, tmp_path):
    tok, prim, _, prompts, pid, sid = bf16_setup
    base, tuned = tiny_pair
    resp = sample_batch(prim, len(tok), prompts, pid, sid, SamplingParams(7, 1.0, 0.9, 24), tok.eos_token_id,
                        tok.pad_token_id)
    df = pl.DataFrame({"problem_id": pid.tolist(), "sample_idx": sid.tolist(), "prompt_ids": prompts,
                       "response_ids": [r for r, _ in resp]})
    df.write_parquet(tmp_path / "responses.parquet")
    cfg = DivergenceConfig(top_p=0.9, extra_top_p=(0.7, 0.8))
    opts = DumpOptions(batch_size=4, dtype="bfloat16")
    run_dump(base, tuned, tmp_path / "responses.parquet", tmp_path / "dump.parquet", cfg, opts)
    written = pq.read_table(tmp_path / "dump.parquet")

    pair = load_pair(base, tuned, opts)
    up = Pair(UpcastScorer(pair.base.model, pair.vocab, "base"), UpcastScorer(pair.tuned.model, pair.vocab, "tuned"),
              pair.tokenizer, pair.vocab, pair.device)
    groups = batch_rows(df, opts.batch_size)
    for name, scorer_pair in (("bf16", pair), ("upcast", up)):
        stats = [score_batch(scorer_pair, b, cfg) for b in make_batches(df, groups, tok.pad_token_id)]
        for col in ("js", "js_full", "js_p070", "js_p080", "logprob_base", "logprob_tuned", "entropy_base"):
            got = torch.cat([s[col] for s in stats])
            assert torch.equal(got, torch.from_numpy(written.column(col).to_numpy())), (name, col)
        ids = torch.cat([s["topk_ids_tuned"] for s in stats])
        assert ids.tolist() == written.column("topk_ids_tuned").to_pylist(), name
