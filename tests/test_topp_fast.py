"""The top-k shortcuts of top-p and top-k equal the full stable sort, bit for bit, ties included.

The reference here is written apart from the library: a numpy lexsort by (-p, id) and the
prefix masses accumulated in float64 and rounded to the input dtype after every token (what
the CPU ``torch.cumsum`` of the definition does). It is checked against the definition's own
torch code too, then the fast paths are checked against it on random rows with heavy ties,
at small vocabularies (with small head sizes, so every branch runs) and at V = 49152.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.analysis.divergence import (
    DivergenceConfig,
    entropy,
    position_stats,
    rank_of,
    sorted_topk,
    topk_overlap_counts,
)
from tokenshift.distributions import topp
from tokenshift.distributions.divergences import js_divergence
from tokenshift.distributions.topp import sorted_head, top_p_mask, top_p_masks, truncate_top_p

REAL_V = 49152


# --- the independent reference ---------------------------------------------------------------------


def ref_order(p: np.ndarray) -> np.ndarray:
    """Ids of a row by descending probability, ties by ascending id."""
    return np.lexsort((np.arange(len(p)), -p))


def ref_mask(p: np.ndarray, top_p: float) -> np.ndarray:
    """Nucleus of rows [n, V]: tokens whose mass strictly before them in the order is < top_p."""
    if top_p >= 1.0:
        return np.ones(p.shape, dtype=bool)
    out = np.zeros(p.shape, dtype=bool)
    for r, row in enumerate(p):
        order = ref_order(row)
        s = row[order]
        cum = np.add.accumulate(s.astype(np.float64)).astype(row.dtype)
        keep = (cum - s) < top_p
        keep[0] = True
        out[r, order] = keep
    return out


def ref_topk(p: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.stack([ref_order(row)[:k] for row in p])
    return np.take_along_axis(p, ids, axis=1), ids


def old_top_p_mask(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """The sort-based definition as it was written before the shortcut (verbatim)."""
    if top_p >= 1.0:
        return torch.ones_like(probs, dtype=torch.bool)
    sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
    mass_before = sorted_p.cumsum(dim=-1) - sorted_p
    keep_sorted = mass_before < top_p
    keep_sorted[..., 0] = True
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def old_truncate(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    if top_p >= 1.0:
        return probs
    kept = probs * old_top_p_mask(probs, top_p)
    return kept / kept.sum(dim=-1, keepdim=True)


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int64 if t.dtype == torch.float64 else torch.int32)


def assert_same_floats(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert torch.equal(bits(a.contiguous()), bits(b.contiguous()))


# --- random rows with ties ------------------------------------------------------------------------


def make_rows(kind: str, n: int, v: int, rng: np.random.Generator, dtype) -> np.ndarray:
    if kind == "softmax":
        x = rng.normal(0, rng.uniform(0.1, 8), (n, v))
        p = np.exp(x - x.max(1, keepdims=True))
    elif kind == "quantised":  # few distinct values: many exact ties, masses that hit top_p exactly
        p = rng.integers(0, rng.integers(2, 6), (n, v)).astype(np.float64)
        p[:, rng.integers(0, v)] += 1
    elif kind == "uniform":
        p = np.ones((n, v))
    elif kind == "onehot":
        p = np.zeros((n, v))
        p[np.arange(n), rng.integers(0, v, n)] = 1
    elif kind == "sparse":  # a few tied values on a sea of zeros
        p = np.zeros((n, v))
        for row in p:
            row[rng.choice(v, rng.integers(1, min(v, 8) + 1), replace=False)] = rng.integers(1, 3)
    else:  # "peaked": one large value then tied small ones
        p = np.full((n, v), 1.0)
        p[np.arange(n), rng.integers(0, v, n)] = rng.uniform(v, 10 * v)
    p = p / p.sum(1, keepdims=True)
    return p.astype(dtype)


KINDS = ("softmax", "quantised", "uniform", "onehot", "sparse", "peaked")
top_ps = st.one_of(st.floats(1e-4, 1.0), st.sampled_from([0.25, 0.5, 0.7, 0.9, 0.95, 1.0]))


@st.composite
def small_case(draw):
    v = draw(st.integers(2, 300))
    n = draw(st.integers(1, 6))
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=3))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    p = np.concatenate([make_rows(kind, n, v, rng, dtype) for kind in kinds])
    rng.shuffle(p)
    cands = tuple(draw(st.lists(st.integers(1, v + 2), min_size=1, max_size=3)))
    return p, cands


def test_reference_equals_the_definition_code():
    rng = np.random.default_rng(0)
    for kind in KINDS:
        for dtype in (np.float32, np.float64):
            p = make_rows(kind, 5, 500, rng, dtype)
            for top_p in (0.3, 0.9, 0.999):
                assert np.array_equal(ref_mask(p, top_p), old_top_p_mask(torch.from_numpy(p), top_p).numpy())


def test_cpu_cumsum_of_a_prefix_equals_the_prefix_of_the_cumsum():
    """What makes the head's prefix masses those of the full sort."""
    for dtype in (torch.float32, torch.float64):
        x = torch.softmax(torch.randn(7, REAL_V, dtype=dtype) * 3, -1).sort(-1, descending=True).values
        full = x.cumsum(-1)
        for c in (1, 3, 64, 65, 1024, 1025, 5000):
            assert torch.equal(x[:, :c].cumsum(-1), full[:, :c])
            assert torch.equal(x[:, :c].contiguous().cumsum(-1), full[:, :c])


@settings(max_examples=300, deadline=None)
@given(small_case(), top_ps)
def test_fast_mask_equals_reference_small_vocab(case, top_p):
    p, cands = case
    probs = torch.from_numpy(p)
    got = top_p_mask(probs, top_p, candidates=cands)
    assert np.array_equal(got.numpy(), ref_mask(p, top_p))
    assert torch.equal(got, top_p_mask(probs, top_p))  # default head sizes: the full sort here
    assert_same_floats(truncate_top_p(probs, top_p), old_truncate(probs, top_p))


@settings(max_examples=300, deadline=None)
@given(small_case(), st.integers(1, 310))
def test_sorted_head_equals_reference_small_vocab(case, k):
    p, _ = case
    k = min(k, p.shape[1])
    vals, ids = sorted_head(torch.from_numpy(p), k)
    rv, ri = ref_topk(p, k)
    assert np.array_equal(ids.numpy(), ri)
    assert np.array_equal(vals.numpy().view(np.uint8), rv.view(np.uint8))
    ids2, vals2 = sorted_topk(torch.from_numpy(p), k)
    assert torch.equal(ids2, ids) and torch.equal(vals2, vals)


@settings(max_examples=8, deadline=None)
@given(st.sampled_from(KINDS), st.sampled_from([np.float32, np.float64]), top_ps, st.integers(1, REAL_V),
       st.integers(0, 2**32 - 1))
def test_fast_paths_equal_reference_real_vocab(kind, dtype, top_p, k, seed):
    rng = np.random.default_rng(seed)
    p = np.concatenate([make_rows(kind, 3, REAL_V, rng, dtype), make_rows("softmax", 3, REAL_V, rng, dtype)])
    probs = torch.from_numpy(p)
    assert np.array_equal(top_p_mask(probs, top_p).numpy(), ref_mask(p, top_p))
    assert_same_floats(truncate_top_p(probs, top_p), old_truncate(probs, top_p))
    for kk in (1, 10, k):
        ids, vals = sorted_topk(probs, kk)
        rv, ri = ref_topk(p, kk)
        assert np.array_equal(ids.numpy(), ri) and np.array_equal(vals.numpy(), rv)


def test_lm_like_rows_at_real_vocab_take_the_shortcut(monkeypatch):
    """Peaked next-token rows never reach the full sort, and the result is the definition's."""
    calls = []
    real = topp.stable_order
    monkeypatch.setattr(topp, "stable_order", lambda x: calls.append(tuple(x.shape)) or real(x))
    gen = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(32, REAL_V, generator=gen) * 4, -1)
    for top_p in (0.5, 0.9):
        assert torch.equal(top_p_mask(probs, top_p), old_top_p_mask(probs, top_p))
    ids, vals = sorted_topk(probs, 10)
    ref_vals, ref_ids = old_sort_head(probs, 10)
    assert torch.equal(ids, ref_ids) and torch.equal(vals, ref_vals)
    assert calls == []


def test_flat_rows_fall_back_to_the_full_sort_and_stay_exact(monkeypatch):
    """Without the window stage, a nucleus larger than every head is found by the full sort of those rows only."""
    calls = []
    real = topp.stable_order
    monkeypatch.setattr(topp, "stable_order", lambda x: calls.append(tuple(x.shape)) or real(x))
    gen = torch.Generator().manual_seed(1)
    flat = torch.softmax(torch.randn(3, REAL_V, generator=gen) * 0.05, -1)
    peaked = torch.softmax(torch.randn(2, REAL_V, generator=gen) * 5, -1)
    probs = torch.cat([peaked[:1], flat, peaked[1:]])
    got = top_p_mask(probs, 0.9, window=False)
    assert calls == [(3, REAL_V)]
    assert int(got[1:4].sum(-1).min()) > max(topp.CANDIDATES)
    assert np.array_equal(got.numpy(), ref_mask(probs.numpy(), 0.9))
    calls.clear()
    assert torch.equal(top_p_mask(probs, 0.9), got)  # the window stage: no full sort
    assert calls == []
    assert_same_floats(truncate_top_p(probs, 0.9), old_truncate(probs, 0.9))


@pytest.mark.skipif(not topp.WINDOW, reason="this torch's cumsum does not accumulate float32 in float64")
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([0.02, 0.1, 0.5, 1.0, 2.0]), st.integers(1, 4))
def test_window_stage_at_exact_boundaries(seed, scale, n_ps):
    """top_p equal to a prefix mass of the definition (the `<` decides) and just beside it."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.normal(0, scale, (4, REAL_V)).astype(np.float32))
    if seed % 3 == 0:  # quantised logits: long runs of tied probabilities
        x = x.mul(4).round()
    probs = torch.softmax(x, -1)
    sorted_p, _ = probs.sort(dim=-1, descending=True, stable=True)
    mass_before = sorted_p.cumsum(-1) - sorted_p
    ks = rng.integers(100, REAL_V // 2, n_ps)
    ps = []
    for k in ks:
        m = float(mass_before[int(rng.integers(0, 4)), k])
        ps += [m, float(np.nextafter(np.float32(m), np.float32(0))), float(np.nextafter(np.float32(m), np.float32(1)))]
    ps = [p for p in ps if 0 < p <= 1]
    masks = top_p_masks(probs, ps)
    for top_p, m in zip(ps, masks):
        assert np.array_equal(m.numpy(), ref_mask(probs.numpy(), top_p))


def test_tie_straddling_the_head_is_resolved_by_id():
    """Zeros tie across the head boundary: the smallest ids come first, as in the stable sort."""
    v = 1000
    p = torch.zeros(2, v)
    p[0, 700] = 0.6
    p[0, 5] = 0.4
    p[1, 999] = 1.0
    vals, ids = sorted_head(p, 10)
    ref_vals, ref_ids = old_sort_head(p, 10)
    assert torch.equal(ids, ref_ids) and torch.equal(vals, ref_vals)
    assert ids[1].tolist() == [999, *range(9)]
    for top_p in (0.5, 0.99, 1.0):
        assert torch.equal(top_p_mask(p, top_p, candidates=(3,)), old_top_p_mask(p, top_p))


def old_sort_head(p: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    vals, ids = p.sort(dim=-1, descending=True, stable=True)
    return vals[..., :k], ids[..., :k]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -0.25])
def test_rows_with_nan_inf_or_negative_entries_equal_the_definition(bad):
    gen = torch.Generator().manual_seed(2)
    probs = torch.softmax(torch.randn(4, 500, generator=gen) * 3, -1)
    probs[1, 17] = bad
    probs[2, 0] = bad
    probs[2, 499] = bad
    for top_p in (0.5, 0.9):
        got = top_p_mask(probs, top_p, candidates=(4, 16))
        assert torch.equal(got, old_top_p_mask(probs, top_p))
    vals, ids = sorted_head(probs, 7)
    ref_vals, ref_ids = old_sort_head(probs, 7)
    assert torch.equal(ids, ref_ids)
    assert torch.equal(bits(vals), bits(ref_vals))


def test_shapes_and_dtypes_are_kept():
    p = torch.softmax(torch.randn(2, 3, 400, dtype=torch.float64), -1)
    m = top_p_mask(p, 0.8, candidates=(8,))
    assert m.shape == p.shape and m.dtype == torch.bool
    assert torch.equal(m, old_top_p_mask(p, 0.8))
    vals, ids = sorted_head(p, 5)
    assert vals.shape == (2, 3, 5) and vals.dtype == torch.float64 and ids.dtype == torch.long
    one = p[0, 0]
    assert torch.equal(top_p_mask(one, 0.8, candidates=(8,)), old_top_p_mask(one, 0.8))
    assert torch.equal(sorted_head(one, 5)[1], old_sort_head(one, 5)[1])


@settings(max_examples=200, deadline=None)
@given(small_case(), st.lists(top_ps, min_size=1, max_size=4), st.integers(0, 320))
def test_several_top_p_from_one_head_equal_reference(case, ps, width):
    p, cands = case
    probs = torch.from_numpy(p)
    head = sorted_head(probs, width) if width else None
    masks = top_p_masks(probs, ps, candidates=cands, head=head)
    for top_p, m in zip(ps, masks):
        assert np.array_equal(m.numpy(), ref_mask(p, top_p))


# --- the per-token statistics against their direct computation -----------------------------------


def old_position_stats(logits_base, logits_tuned, tokens, cfg):
    """position_stats as written before the shortcuts (with the sort-based truncation and top-k)."""
    def probs_of(lg):
        work = lg if lg.dtype == torch.float64 else lg.float()
        pr = torch.softmax(work / cfg.temperature, dim=-1)
        return pr, old_truncate(pr, cfg.top_p)

    pb, pb_trunc = probs_of(logits_base)
    pt, pt_trunc = probs_of(logits_tuned)
    tok = tokens.unsqueeze(-1)
    out = {
        "logprob_base": torch.log(pb.gather(-1, tok)).squeeze(-1),
        "logprob_tuned": torch.log(pt.gather(-1, tok)).squeeze(-1),
        "entropy_base": entropy(pb), "entropy_tuned": entropy(pt),
        "js": js_divergence(pb_trunc, pt_trunc),
        "js_full": js_divergence(pb, pt) if cfg.top_p < 1.0 else None,
    }
    if out["js_full"] is None:
        out["js_full"] = out["js"]
    for col, top_p in cfg.extra_columns().items():
        out[col] = js_divergence(old_truncate(pb, top_p), old_truncate(pt, top_p))
    k = min(cfg.k, pb.shape[-1])
    probs_b, ids_b = old_sort_head(pb, k)
    probs_t, ids_t = old_sort_head(pt, k)
    out.update(topk_ids_base=ids_b, topk_probs_base=probs_b, topk_ids_tuned=ids_t, topk_probs_tuned=probs_t,
               topk_overlap=topk_overlap_counts(ids_b, ids_t))
    top3 = ids_t[:, :3]
    ranks = rank_of(pb, top3)
    base_p = pb.gather(-1, top3)
    for i in range(3):
        out[f"base_rank_of_tuned_top{i + 1}"] = ranks[:, i]
        out[f"base_prob_of_tuned_top{i + 1}"] = base_p[:, i]
    return out


def assert_same_stats(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, w in want.items():
        g = got[key]
        if w.is_floating_point():
            assert_same_floats(g, w)
        else:
            assert g.dtype == w.dtype and torch.equal(g, w), key


configs = st.builds(DivergenceConfig, temperature=st.sampled_from([1.0, 0.7, 1.3]),
                    top_p=st.sampled_from([1.0, 0.9, 0.5, 0.95]),
                    extra_top_p=st.lists(st.sampled_from([0.3, 0.7, 0.8, 0.9, 0.95, 1.0]), max_size=3).map(tuple),
                    k=st.integers(3, 12))


@settings(max_examples=150, deadline=None)
@given(st.integers(3, 200).flatmap(lambda v: st.tuples(
    st.just(v), st.integers(1, 6), st.sampled_from(["tied", "wide", "flat"]), st.integers(0, 2**32 - 1),
    st.sampled_from([torch.float32, torch.float64]))), configs)
def test_position_stats_equal_the_direct_computation_small_vocab(case, cfg):
    v, n, kind, seed, dtype = case
    gen = torch.Generator().manual_seed(seed)
    if kind == "tied":
        lb = torch.randint(-3, 3, (n, v), generator=gen).to(dtype) * 4
        lt = torch.randint(-3, 3, (n, v), generator=gen).to(dtype) * 4
    else:
        scale = 8.0 if kind == "wide" else 0.05
        lb, lt = (torch.randn(n, v, generator=gen, dtype=dtype) * scale for _ in range(2))
    tokens = torch.randint(0, v, (n,), generator=gen)
    assert_same_stats(position_stats(lb, lt, tokens, cfg), old_position_stats(lb, lt, tokens, cfg))


@pytest.mark.parametrize("kind", ["lm", "flat", "tied"])
def test_position_stats_equal_the_direct_computation_real_vocab(kind):
    gen = torch.Generator().manual_seed(3)
    n = 24
    if kind == "tied":
        lb = torch.randint(-3, 3, (n, REAL_V), generator=gen).float() * 8
        lt = torch.randint(-3, 3, (n, REAL_V), generator=gen).float() * 8
    else:
        scale = 4.0 if kind == "lm" else 0.1
        lb = torch.randn(n, REAL_V, generator=gen) * scale
        lt = lb + torch.randn(n, REAL_V, generator=gen) * scale / 2
    tokens = torch.randint(0, REAL_V, (n,), generator=gen)
    for cfg in (DivergenceConfig(top_p=0.9, extra_top_p=(0.7, 0.8)), DivergenceConfig(top_p=1.0, extra_top_p=(0.5,)),
                DivergenceConfig(temperature=0.6, top_p=0.95, extra_top_p=(), k=70)):
        assert_same_stats(position_stats(lb, lt, tokens, cfg), old_position_stats(lb, lt, tokens, cfg))
