"""Per-position statistics against plain numpy references, and the dump's bad-input contract."""

from __future__ import annotations

import functools
import math

import numpy as np
import polars as pl
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from tokenshift.analysis.divergence import (
    DivergenceConfig,
    chunked_stats,
    entropy,
    position_stats,
    rank_of,
    sorted_topk,
    topk_overlap_counts,
)
from tokenshift.analysis.dump import DumpOptions, answer_start, run_dump
from tokenshift.distributions.divergences import js_divergence
from tokenshift.distributions.topp import truncate_top_p
from tokenshift.errors import UserError
from tokenshift.files.parquet import read_metadata
from tokenshift.generation.sampler import encode_prompt
from tokenshift.models.loading import ModelError, load_model, load_tokenizer

# --- independent numpy references (loops and sets, not vectorised torch) -------------------------


def ref_order(p: np.ndarray) -> list[int]:
    """Token ids by descending probability, ties by ascending id."""
    return sorted(range(len(p)), key=lambda i: (-p[i], i))


def ref_truncate(p: np.ndarray, top_p: float) -> np.ndarray:
    if top_p >= 1.0:
        return p.copy()
    out = np.zeros_like(p)
    mass = 0.0
    for i in ref_order(p):
        out[i] = p[i]
        mass += p[i]
        if mass >= top_p:
            break
    return out / out.sum()


def near_boundary(p: np.ndarray, top_p: float) -> bool:
    """Whether some prefix mass is within rounding of top_p (implementations may then legitimately differ)."""
    mass = np.cumsum(p[ref_order(p)])
    return bool(np.any(np.abs(mass - top_p) < 1e-9))


def ref_js(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    total = 0.0
    for a in (p, q):
        total += 0.5 * sum(a[i] * math.log(a[i] / m[i]) for i in range(len(a)) if a[i] > 0)
    return total


def ref_entropy(p: np.ndarray) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


def softmax(x: np.ndarray, t: float = 1.0) -> np.ndarray:
    z = np.exp((x - x.max()) / t)
    return z / z.sum()


# Small integer-valued logits produce many exact ties; wide floats produce peaked distributions.
tied_logits = arrays(np.float64, st.integers(2, 12), elements=st.integers(-3, 3).map(float))
wide_logits = arrays(np.float64, st.integers(2, 40), elements=st.floats(-15, 15, allow_nan=False))
any_logits = st.one_of(tied_logits, wide_logits)
top_ps = st.one_of(st.just(1.0), st.floats(0.05, 0.999), st.sampled_from([0.5, 0.7, 0.9]))


@settings(max_examples=200, deadline=None)
@given(any_logits, top_ps)
def test_truncation_matches_reference(logits, top_p):
    p = softmax(logits)
    assume(not near_boundary(p, top_p))
    got = truncate_top_p(torch.tensor(p), top_p).numpy()
    np.testing.assert_allclose(got, ref_truncate(p, top_p), atol=1e-12)
    assert (got > 0).sum() >= 1


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 30).flatmap(lambda v: st.tuples(
    arrays(np.float64, v, elements=st.floats(-10, 10)), arrays(np.float64, v, elements=st.floats(-10, 10)))),
    top_ps)
def test_js_reference_symmetry_and_bounds(pair, top_p):
    p, q = softmax(pair[0]), softmax(pair[1])
    assume(not near_boundary(p, top_p) and not near_boundary(q, top_p))
    pt, qt = ref_truncate(p, top_p), ref_truncate(q, top_p)
    tp, tq = truncate_top_p(torch.tensor(p), top_p), truncate_top_p(torch.tensor(q), top_p)
    js_pq, js_qp = float(js_divergence(tp, tq)), float(js_divergence(tq, tp))
    assert js_pq == pytest.approx(ref_js(pt, qt), abs=1e-12)
    assert js_pq == pytest.approx(js_qp, abs=1e-15)
    assert 0.0 <= js_pq <= math.log(2)
    # zero exactly when the truncated distributions agree, positive when they do not
    assert float(js_divergence(tp, tp)) == 0.0
    if np.abs(pt - qt).max() > 1e-6:
        assert js_pq > 0.0


def test_js_disjoint_supports_is_ln2():
    p = torch.tensor([1.0, 0.0, 0.0])
    q = torch.tensor([0.0, 0.5, 0.5])
    assert float(js_divergence(p, q)) == pytest.approx(math.log(2), abs=1e-7)


@settings(max_examples=100, deadline=None)
@given(any_logits)
def test_entropy_matches_reference(logits):
    p = softmax(logits)
    assert float(entropy(torch.tensor(p))) == pytest.approx(ref_entropy(p), abs=1e-10)


def test_entropy_with_zero_probabilities_is_finite():
    assert float(entropy(torch.tensor([0.5, 0.5, 0.0]))) == pytest.approx(math.log(2))


@settings(max_examples=150, deadline=None)
@given(st.integers(3, 15).flatmap(lambda v: st.tuples(
    arrays(np.float64, (4, v), elements=st.integers(-2, 2).map(float)),
    arrays(np.float64, (4, v), elements=st.floats(-5, 5)))))
def test_topk_ranks_and_overlap_match_reference(pair):
    pb = torch.softmax(torch.tensor(pair[0]), -1)
    pt = torch.softmax(torch.tensor(pair[1]), -1)
    k = min(10, pb.shape[1])
    ids_b, probs_b = sorted_topk(pb, k)
    ids_t, _ = sorted_topk(pt, k)
    ranks = rank_of(pb, ids_t[:, :3])
    overlap = topk_overlap_counts(ids_b, ids_t)
    for r in range(pb.shape[0]):
        ob, ot = ref_order(pb[r].numpy()), ref_order(pt[r].numpy())
        assert ids_b[r].tolist() == ob[:k]
        np.testing.assert_allclose(probs_b[r].numpy(), pb[r].numpy()[ob[:k]])
        for i in range(3):
            assert int(ranks[r, i]) == ob.index(ot[i]) + 1
        for kk in range(1, k + 1):
            assert int(overlap[r, kk - 1]) == len(set(ob[:kk]) & set(ot[:kk]))


@settings(max_examples=60, deadline=None)
@given(st.integers(4, 20).flatmap(lambda v: st.tuples(
    arrays(np.float64, (5, v), elements=st.floats(-8, 8)), arrays(np.float64, (5, v), elements=st.floats(-8, 8)),
    arrays(np.int64, 5, elements=st.integers(0, v - 1)))),
    st.sampled_from([0.7, 0.9, 1.0]), st.sampled_from([0.7, 1.0, 1.5]))
def test_position_stats_matches_reference(data, top_p, temperature):
    lb, lt, tokens = data
    cfg = DivergenceConfig(temperature=temperature, top_p=top_p, extra_top_p=(0.8,))
    out = position_stats(torch.tensor(lb), torch.tensor(lt), torch.tensor(tokens), cfg)
    for r in range(5):
        p, q = softmax(lb[r], temperature), softmax(lt[r], temperature)
        assume(not any(near_boundary(x, tp) for x in (p, q) for tp in (top_p, 0.8)))
        assert float(out["js"][r]) == pytest.approx(ref_js(ref_truncate(p, top_p), ref_truncate(q, top_p)), abs=1e-10)
        assert float(out["js_full"][r]) == pytest.approx(ref_js(p, q), abs=1e-10)
        assert float(out["js_p080"][r]) == pytest.approx(ref_js(ref_truncate(p, .8), ref_truncate(q, .8)), abs=1e-10)
        assert float(out["entropy_base"][r]) == pytest.approx(ref_entropy(p), abs=1e-10)
        assert float(out["logprob_tuned"][r]) == pytest.approx(math.log(q[tokens[r]]), abs=1e-9)
        assert float(out["entropy_tuned"][r]) == pytest.approx(ref_entropy(q), abs=1e-10)
        assert float(out["logprob_base"][r]) == pytest.approx(math.log(p[tokens[r]]), abs=1e-9)
        # orders are compared on the library's own softmax values, so only the ranking code is under test
        pt_ = torch.softmax(torch.tensor(lb[r]) / temperature, -1).numpy()
        qt_ = torch.softmax(torch.tensor(lt[r]) / temperature, -1).numpy()
        check_top_lists(out, r, pt_, qt_)


def check_top_lists(out: dict, r: int, p: np.ndarray, q: np.ndarray, atol: float = 1e-12) -> None:
    """Top-k lists, overlap, ranks and tail probabilities of row ``r`` against ``ref_order`` (p base, q tuned)."""
    def row(col: str) -> list:
        x = out[col][r]
        return x.tolist() if hasattr(x, "tolist") else list(x)

    ob, ot = ref_order(p), ref_order(q)
    k = len(row("topk_ids_base"))
    assert k == min(10, len(p))
    assert row("topk_ids_base") == ob[:k] and row("topk_ids_tuned") == ot[:k]
    np.testing.assert_allclose(np.asarray(row("topk_probs_base"), dtype=float), p[ob[:k]], atol=atol)
    np.testing.assert_allclose(np.asarray(row("topk_probs_tuned"), dtype=float), q[ot[:k]], atol=atol)
    assert row("topk_overlap") == [len(set(ob[:kk]) & set(ot[:kk])) for kk in range(1, k + 1)]
    for i in (1, 2, 3):
        assert int(out[f"base_rank_of_tuned_top{i}"][r]) == ob.index(ot[i - 1]) + 1
        assert float(out[f"base_prob_of_tuned_top{i}"][r]) == pytest.approx(p[ot[i - 1]], abs=atol)


@settings(max_examples=150, deadline=None)
@given(tied_logits)
def test_ranks_with_ties_are_a_permutation_in_id_order(logits):
    """Every token's rank: 1 + tokens more likely + equally likely tokens with a smaller id."""
    p = torch.softmax(torch.tensor(logits), -1).unsqueeze(0)
    v = p.shape[-1]
    ranks = rank_of(p, torch.arange(v).unsqueeze(0))[0].tolist()
    x = p[0].tolist()
    want = [1 + sum(1 for j in range(v) if x[j] > x[i] or (x[j] == x[i] and j < i)) for i in range(v)]
    assert ranks == want
    assert sorted(ranks) == list(range(1, v + 1))


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12).flatmap(lambda k: st.tuples(st.permutations(range(2 * k)), st.permutations(range(2 * k)),
                                                     st.just(k))))
def test_topk_overlap_counts_are_set_intersections(data):
    a, b, k = data
    got = topk_overlap_counts(torch.tensor([a[:k]]), torch.tensor([b[:k]]))[0].tolist()
    assert got == [len(set(a[:j]) & set(b[:j])) for j in range(1, k + 1)]
    assert all(0 <= c <= j for j, c in enumerate(got, 1)) and all(y >= x for x, y in zip(got, got[1:]))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 50))
def test_entropy_bounds_uniform_and_point_mass(v):
    assert float(entropy(torch.full((v,), 1.0 / v, dtype=torch.float64))) == pytest.approx(math.log(v), abs=1e-12)
    point = torch.zeros(v, dtype=torch.float64)
    point[v // 2] = 1.0
    assert float(entropy(point)) == 0.0


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="0123456789+=;#", max_size=25), st.sampled_from(["#", ";#", "=", "@"]))
def test_answer_start_is_the_first_prefix_containing_the_marker(text, marker):
    """Binary search over decoded prefixes equals a linear scan."""
    from tokenshift.data.vocab import build_char_tokenizer
    tok = build_char_tokenizer()
    ids = tok.encode(text, add_special_tokens=False) + [tok.eos_token_id]
    want = next((i for i in range(len(ids)) if marker in tok.decode(ids[: i + 1])), None)
    assert answer_start(tok, ids, marker) == want


def test_js_column_names_and_precision():
    from tokenshift.analysis.divergence import js_column
    assert [js_column(p) for p in (0.05, 0.7, 0.8, 0.95)] == ["js_p005", "js_p070", "js_p080", "js_p095"]
    with pytest.raises(UserError, match="two decimals"):
        DivergenceConfig(extra_top_p=(0.805,))


def test_extra_columns_skip_duplicates_and_one():
    cfg = DivergenceConfig(top_p=0.8, extra_top_p=(0.8, 0.9, 1.0, 0.7))
    assert cfg.extra_columns() == {"js_p070": 0.7, "js_p090": 0.9}


def test_bad_config_is_a_user_error():
    with pytest.raises(UserError):
        DivergenceConfig(top_p=0.0)
    with pytest.raises(UserError):
        DivergenceConfig(temperature=0.0)


def test_chunking_is_invisible_and_bounds_the_head():
    gen = torch.Generator().manual_seed(0)
    hb, ht = torch.randn(23, 8, generator=gen), torch.randn(23, 8, generator=gen)
    wb, wt = torch.randn(50, 8, generator=gen), torch.randn(50, 8, generator=gen)
    tokens = torch.randint(0, 50, (23,), generator=gen)
    seen = []

    def head(w):
        def f(h):
            seen.append(h.shape[0])
            return h @ w.T
        return f

    whole = chunked_stats(hb, ht, tokens, head(wb), head(wt), 50, DivergenceConfig(top_p=0.7, chunk=1000))
    seen.clear()
    parts = chunked_stats(hb, ht, tokens, head(wb), head(wt), 50, DivergenceConfig(top_p=0.7, chunk=4))
    assert max(seen) == 4
    for key in whole:  # matmul blocking may differ in the last float bits between chunk sizes
        torch.testing.assert_close(whole[key], parts[key], rtol=1e-5, atol=1e-6, msg=key)


def test_nonfinite_logits_report_flat_index():
    from tokenshift.analysis.divergence import NonFiniteLogits
    lb = torch.zeros(6, 5)
    lt = torch.zeros(6, 5)
    lt[4, 2] = float("nan")
    with pytest.raises(NonFiniteLogits) as exc:
        chunked_stats(lb, lt, torch.zeros(6, dtype=torch.long), lambda h: h, lambda h: h, 5,
                      DivergenceConfig(chunk=3))
    assert exc.value.index == 4 and exc.value.model == "tuned"


# --- the dump on real tiny models -------------------------------------------------------------


STAT_COLUMNS = ["logprob_base", "logprob_tuned", "entropy_base", "entropy_tuned", "js", "js_full", "js_p080",
                "topk_ids_base", "topk_probs_base", "topk_ids_tuned", "topk_probs_tuned", "topk_overlap",
                *(f"base_{what}_of_tuned_top{i}" for what in ("rank", "prob") for i in (1, 2, 3))]


def write_responses(path, tok, rows) -> str:
    """A generations-like table from (problem_id, sample_idx, prompt text, response text|ids)."""
    recs = []
    for pid, sid, prompt, resp in rows:
        ids = resp if isinstance(resp, list) else tok.encode(resp, add_special_tokens=False) + [tok.eos_token_id]
        recs.append({"problem_id": pid, "sample_idx": sid, "prompt": prompt,
                     "prompt_ids": encode_prompt(tok, prompt), "response_ids": ids,
                     "response_text": tok.decode(ids, skip_special_tokens=True), "finish_reason": "stop"})
    pl.DataFrame(recs).write_parquet(path)
    return str(path)


SAMPLE_ROWS = [(0, 0, "12+34=", "12+34=46;#46"), (0, 1, "12+34=", "12+34=56;#56"),
               (1, 0, "50-7+3=", "50-7=43;43+3=46;#46"), (2, 0, "11+1=", "11+1=12;"),
               (2, 1, "11+1=", "9")]


@pytest.fixture(scope="module")
def responses(tiny_pair, tmp_path_factory):
    tok = load_tokenizer(tiny_pair[0])
    return write_responses(tmp_path_factory.mktemp("resp") / "gen.parquet", tok, SAMPLE_ROWS)


CFG = DivergenceConfig(top_p=0.7, extra_top_p=(0.8,))


def test_dump_matches_plain_forward(tiny_pair, responses, tmp_path):
    """Teacher forcing is aligned: logprob/entropy equal an unpadded full forward of each response."""
    base, tuned = tiny_pair
    out = tmp_path / "d.parquet"
    summary = run_dump(base, tuned, responses, out, CFG, DumpOptions(batch_size=2))
    d = pl.read_parquet(out)
    gen = pl.read_parquet(responses)
    assert summary.n_positions == d.height == sum(len(r) for r in gen["response_ids"])
    models = {name: load_model(p) for name, p in (("base", base), ("tuned", tuned))}
    for row in gen.iter_rows(named=True):
        ids = torch.tensor([row["prompt_ids"] + row["response_ids"]])
        sub = d.filter((pl.col("problem_id") == row["problem_id"]) & (pl.col("sample_idx") == row["sample_idx"]))
        n, p = len(row["response_ids"]), len(row["prompt_ids"])
        assert sub["position"].to_list() == list(range(n)) and sub["length"].unique().to_list() == [n]
        assert sub["token_id"].to_list() == row["response_ids"]
        for name, m in models.items():
            with torch.no_grad():
                logp = torch.log_softmax(m(ids).logits[0, p - 1:p - 1 + n].double(), -1)
            want = logp.gather(-1, torch.tensor(row["response_ids"]).unsqueeze(-1)).squeeze(-1).numpy()
            np.testing.assert_allclose(sub[f"logprob_{name}"].to_numpy(), want, atol=2e-5)
            ent = -(logp.exp() * logp).sum(-1).numpy()
            np.testing.assert_allclose(sub[f"entropy_{name}"].to_numpy(), ent, atol=2e-5)
    meta = read_metadata(out)
    assert meta["base"] == str(base) and meta["tuned"] == str(tuned)
    assert meta["top_p"] == 0.7 and meta["temperature"] == 1.0 and "tokenshift" in meta


@functools.cache
def cached_model(model_dir, dtype: str) -> torch.nn.Module:
    return load_model(model_dir, dtype)


def independent_logits(model_dir, row: dict, dtype: str) -> np.ndarray:
    """Logits predicting each response token: one plain, unpadded forward of the whole model."""
    model = cached_model(model_dir, dtype)
    ids = torch.tensor([row["prompt_ids"] + row["response_ids"]])
    p, n = len(row["prompt_ids"]), len(row["response_ids"])
    with torch.no_grad():
        return model(ids).logits[0, p - 1:p - 1 + n].double().numpy()


@pytest.mark.parametrize("top_p", [0.7, 1.0])
def test_dump_on_real_models_matches_independent_computation(tiny_pair, responses, tmp_path, top_p):
    """JS (truncated and full), top-k lists, overlap, ranks and tail probabilities of two real models.

    In float64 the teacher-forced batch and the plain forward agree to ~1e-15, so token orders
    are compared exactly; positions within rounding of a top-p boundary are left out.
    """
    base, tuned = tiny_pair
    cfg = DivergenceConfig(top_p=top_p, extra_top_p=(0.8,))
    out = tmp_path / "d.parquet"
    run_dump(base, tuned, responses, out, cfg, DumpOptions(batch_size=2, dtype="float64"))
    d = pl.read_parquet(out)
    gen = pl.read_parquet(responses)
    checked = 0
    for row in gen.iter_rows(named=True):
        sub = d.filter((pl.col("problem_id") == row["problem_id"]) & (pl.col("sample_idx") == row["sample_idx"]))
        cols = sub.to_dict(as_series=False)
        lb, lt = (independent_logits(m, row, "float64") for m in (base, tuned))
        n = len(row["response_ids"])
        for t in range(n):
            p, q = softmax(lb[t]), softmax(lt[t])
            assert cols["norm_position"][t] == pytest.approx((t + 0.5) / n, rel=1e-6)
            if any(near_boundary(x, tp) for x in (p, q) for tp in (top_p, 0.8) if tp < 1.0):
                continue
            checked += 1
            assert cols["js"][t] == pytest.approx(ref_js(ref_truncate(p, top_p), ref_truncate(q, top_p)), abs=1e-7)
            assert cols["js_full"][t] == pytest.approx(ref_js(p, q), abs=1e-7)
            assert cols["js_p080"][t] == pytest.approx(ref_js(ref_truncate(p, .8), ref_truncate(q, .8)), abs=1e-7)
            tok = row["response_ids"][t]
            assert cols["logprob_base"][t] == pytest.approx(math.log(p[tok]), abs=1e-6)
            assert cols["entropy_tuned"][t] == pytest.approx(ref_entropy(q), abs=1e-6)
            check_top_lists(cols, t, p, q, atol=1e-7)
    assert checked > 0.9 * d.height
    # not vacuous: the two models do disagree, in value and in order
    assert d["js_full"].max() > 1e-3 and (d["topk_overlap"].list.get(2) < 3).any()
    if top_p < 1.0:
        assert (d["js"] != d["js_full"]).any()
    else:
        assert (d["js"] == d["js_full"]).all()


def test_dump_js_in_float32_matches_float64_reference(tiny_pair, responses, tmp_path):
    """The production dtype: JS values within float32 rounding of the independent float64 computation."""
    base, tuned = tiny_pair
    run_dump(base, tuned, responses, tmp_path / "d.parquet", CFG, DumpOptions(batch_size=3))
    d = pl.read_parquet(tmp_path / "d.parquet")
    for row in pl.read_parquet(responses).iter_rows(named=True):
        sub = d.filter((pl.col("problem_id") == row["problem_id"]) & (pl.col("sample_idx") == row["sample_idx"]))
        lb, lt = (independent_logits(m, row, "float32") for m in (base, tuned))
        for t, (js, js_full) in enumerate(zip(sub["js"], sub["js_full"])):
            p, q = softmax(lb[t]), softmax(lt[t])
            if not any(np.any(np.abs(np.cumsum(x[ref_order(x)]) - 0.7) < 1e-5) for x in (p, q)):
                assert js == pytest.approx(ref_js(ref_truncate(p, 0.7), ref_truncate(q, 0.7)), abs=2e-5)
            assert js_full == pytest.approx(ref_js(p, q), abs=2e-5)


def test_model_against_itself_has_zero_divergence(tiny_pair, responses, tmp_path):
    base = tiny_pair[0]
    run_dump(base, base, responses, tmp_path / "self.parquet", CFG)
    d = pl.read_parquet(tmp_path / "self.parquet")
    for col in ("js", "js_full", "js_p080"):
        assert (d[col] == 0).all(), col
    assert (d["base_rank_of_tuned_top1"] == 1).all() and (d["base_rank_of_tuned_top3"] == 3).all()
    assert (d["topk_overlap"].list.get(9) == 10).all()
    assert (d["logprob_base"] == d["logprob_tuned"]).all()


def test_dump_is_byte_identical_on_rerun(tiny_pair, responses, tmp_path):
    for name in ("a", "b"):
        run_dump(*tiny_pair, responses, tmp_path / f"{name}.parquet", CFG, DumpOptions(batch_size=3))
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_padded_vocabulary_rows_are_cut(tiny_pair, responses, tmp_path):
    """A base whose output matrix has extra (large) rows beyond the tokenizer gives the same table."""
    from tokenshift.models.loading import load_tokenizer as lt
    base, tuned = tiny_pair
    m = load_model(base)
    old = m.get_output_embeddings().weight.shape[0]
    m.resize_token_embeddings(old + 7)
    with torch.no_grad():
        m.get_output_embeddings().weight[old:] = 50.0  # would dominate every softmax if not cut
    padded = tmp_path / "padded"
    m.save_pretrained(padded)
    lt(base).save_pretrained(padded)
    run_dump(base, tuned, responses, tmp_path / "ref.parquet", CFG)
    run_dump(padded, tuned, responses, tmp_path / "pad.parquet", CFG)
    a, b = pl.read_parquet(tmp_path / "ref.parquet"), pl.read_parquet(tmp_path / "pad.parquet")
    for col in STAT_COLUMNS:
        if col.startswith(("topk_ids", "topk_overlap")):
            assert a[col].to_list() == b[col].to_list(), col
        elif a[col].dtype == pl.List:
            np.testing.assert_allclose(np.array(a[col].to_list()), np.array(b[col].to_list()), atol=1e-6, err_msg=col)
        else:
            np.testing.assert_allclose(a[col].to_numpy(), b[col].to_numpy(), atol=1e-5, err_msg=col)


def test_differing_tokenizers_fail_before_loading_weights(tiny_pair, responses, tmp_path, monkeypatch):
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from conftest import save_tiny_model
    from tokenshift.analysis import dump as dump_mod
    from tokenshift.data.vocab import build_char_tokenizer
    other = save_tiny_model(tmp_path / "other", seed=3)
    build_char_tokenizer("0123456789+-=;#x").save_pretrained(other)
    monkeypatch.setattr(dump_mod, "load_model", lambda *a, **k: pytest.fail("weights loaded before the check"))
    with pytest.raises(ModelError, match="tokenizers differ") as exc:
        run_dump(tiny_pair[0], other, responses, tmp_path / "x.parquet", CFG)
    assert str(tiny_pair[0]) in str(exc.value) and str(other) in str(exc.value)
    assert not (tmp_path / "x.parquet").exists()


def test_nan_logits_error_names_problem_sample_position(tiny_pair, tmp_path, monkeypatch):
    """A NaN hidden state of the tuned model at one position is reported as (problem, sample, position)."""
    from tokenshift.analysis.dump import Scorer
    tok = load_tokenizer(tiny_pair[0])
    rows = [(0, 0, "12+34=", "12+34=46#46"), (4, 1, "12+34=", "12+34=46;#46")]
    resp = write_responses(tmp_path / "g.parquet", tok, rows)
    n_prompt = len(encode_prompt(tok, "12+34="))
    original = Scorer.hidden

    def poisoned(self, ids, mask):
        h = original(self, ids, mask)
        if self.name == "tuned":
            h = h.clone()
            h[1, n_prompt - 1 + 9] = float("nan")  # the state predicting response position 9 of row 1
        return h

    monkeypatch.setattr(Scorer, "hidden", poisoned)
    with pytest.raises(UserError, match=r"tuned model at problem 4 sample 1 position 9$"):
        run_dump(*tiny_pair, resp, tmp_path / "x.parquet", CFG, DumpOptions(batch_size=2))
    assert list(tmp_path.glob("*x.parquet*")) == []


def test_empty_responses_are_counted_and_skipped(tiny_pair, tmp_path):
    tok = load_tokenizer(tiny_pair[0])
    resp = write_responses(tmp_path / "g.parquet", tok, [(0, 0, "1+2=", []), (0, 1, "1+2=", "1+2=3;#3")])
    summary = run_dump(*tiny_pair, resp, tmp_path / "d.parquet", CFG)
    d = pl.read_parquet(tmp_path / "d.parquet")
    assert summary.n_empty == 1 and read_metadata(tmp_path / "d.parquet")["n_empty"] == 1
    assert d["sample_idx"].unique().to_list() == [1]


def test_all_empty_still_writes_a_table(tiny_pair, tmp_path):
    tok = load_tokenizer(tiny_pair[0])
    resp = write_responses(tmp_path / "g.parquet", tok, [(0, 0, "1+2=", [])])
    run_dump(*tiny_pair, resp, tmp_path / "d.parquet", CFG)
    d = pl.read_parquet(tmp_path / "d.parquet")
    assert d.height == 0 and "js" in d.columns


def test_too_long_response_is_a_clear_error(tiny_pair, tmp_path):
    tok = load_tokenizer(tiny_pair[0])
    resp = write_responses(tmp_path / "g.parquet", tok, [(3, 2, "1+2=", "1" * 300)])
    with pytest.raises(UserError, match=r"problem 3 sample 2: .*beyond the base model's context of 256"):
        run_dump(*tiny_pair, resp, tmp_path / "d.parquet", CFG)


def test_answer_start_and_correctness(tiny_pair, responses, tmp_path):
    tok = load_tokenizer(tiny_pair[0])
    ids = tok.encode("12+34=46;#46", add_special_tokens=False)
    assert answer_start(tok, ids, "#") == 9
    assert answer_start(tok, ids, "@") is None
    pl.DataFrame({"problem_id": [0, 0, 1, 2, 2], "sample_idx": [0, 1, 0, 0, 1],
                  "correct": [True, False, True, False, False]}).write_parquet(tmp_path / "eval.parquet")
    run_dump(*tiny_pair, responses, tmp_path / "d.parquet", CFG, correct_path=tmp_path / "eval.parquet")
    d = pl.read_parquet(tmp_path / "d.parquet")
    per = d.group_by("problem_id", "sample_idx").agg(pl.col("correct").first(), pl.col("answer_start").first())
    got = {(r["problem_id"], r["sample_idx"]): (r["correct"], r["answer_start"]) for r in per.iter_rows(named=True)}
    assert got[(0, 0)] == (True, 9) and got[(0, 1)] == (False, 9) and got[(2, 0)] == (False, None)


def test_cli_dump_and_one_line_error(tiny_pair, responses, tmp_path, capsys):
    from tokenshift.cli import main
    out = tmp_path / "cli.parquet"
    rc = main(["dump", "--base", str(tiny_pair[0]), "--tuned", str(tiny_pair[1]), "--responses", responses,
               "--out", str(out), "--top-p", "0.7", "--extra-top-p", "0.8", "0.9", "--batch-size", "2"])
    assert rc == 0
    d = pl.read_parquet(out)
    assert {"js_p080", "js_p090"} <= set(d.columns)
    rc = main(["dump", "--base", str(tmp_path / "missing"), "--tuned", str(tiny_pair[1]),
               "--responses", responses, "--out", str(tmp_path / "y.parquet")])
    err = capsys.readouterr().err
    assert rc == 2 and "error: model directory" in err and "Traceback" not in err
