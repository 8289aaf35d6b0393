"""Shift statistics against plain numpy/python recomputations, and the figures on full and empty subsets."""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pytest
from tokenshift.analysis.statistics import TABLES, StatsParams, scan_dumps, summary_markdown
from tokenshift.figures.catalog import FIGURES
from tokenshift.figures.shift import render

from benchmarks.synthdump import write_synthetic_dump

P = StatsParams(top_p=0.7, position_bins=10, window=16, hist_bins=20)


@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_dump(root / "rl.parquet", 6000, seed=1, seqs_per_group=40)
    write_synthetic_dump(root / "sft.parquet", 3000, seed=2, seqs_per_group=40)
    entries = [("rl", "eval", root / "rl.parquet"), ("sft", "eval", root / "sft.parquet")]
    frames = {name: pl.read_parquet(path) for name, _, path in entries}
    return scan_dumps(entries), frames


@pytest.fixture(scope="module")
def tables(dumps):
    return {name: f(dumps[0], P) for name, f in TABLES.items()}


def one(df: pl.DataFrame, **eq) -> pl.DataFrame:
    for k, v in eq.items():
        df = df.filter(pl.col(k) == v)
    return df


def test_js_percentiles_match_numpy(tables, dumps):
    for pair, frame in dumps[1].items():
        for col, tp in (("js", 0.7), ("js_full", 1.0), ("js_p080", 0.8)):
            got = one(tables["js_percentiles"], pair=pair, column=col).sort("percentile")
            assert got["top_p"].unique().to_list() == [tp]
            want = np.percentile(frame[col].to_numpy().astype(np.float64), got["percentile"].to_numpy())
            np.testing.assert_allclose(got["js"].to_numpy(), want, rtol=1e-6, atol=1e-9)


def test_position_profile_matches_numpy(tables, dumps):
    frame = dumps[1]["rl"]
    bins = np.minimum((frame["norm_position"].to_numpy() * 10).astype(int), 9)
    js = frame["js"].to_numpy().astype(np.float64)
    got = one(tables["position_profile"], pair="rl").sort("bin")
    for row in got.iter_rows(named=True):
        sel = js[bins == row["bin"]]
        assert row["n"] == sel.size
        assert row["mean"] == pytest.approx(sel.mean(), rel=1e-5)
        assert row["median"] == pytest.approx(np.median(sel), rel=1e-5)
        assert row["q90"] == pytest.approx(np.quantile(sel, 0.9), rel=1e-5)


def test_local_averages_match_python(tables, dumps):
    frame = dumps[1]["sft"]
    got = one(tables["local_averages"], pair="sft")
    start = frame.filter(pl.col("position") == 3)["js"].to_numpy()
    assert one(got, anchor="start", distance=3)["mean_js"].item() == pytest.approx(start.mean(), rel=1e-5)
    rows = [js for pos, a, js in zip(frame["position"], frame["answer_start"], frame["js"])
            if a is not None and pos - a == -2]
    r = one(got, anchor="answer", distance=-2)
    assert r["n"].item() == len(rows) and r["mean_js"].item() == pytest.approx(np.mean(rows), rel=1e-5)
    assert got.filter(pl.col("anchor") == "answer")["distance"].abs().max() <= P.window


def test_entropy_histograms_match_numpy(tables, dumps):
    frame = dumps[1]["rl"]
    got = tables["entropy_by_divergence"]
    top = max(float(f[c].max()) for f in dumps[1].values() for c in ("entropy_base", "entropy_tuned"))
    high = frame.filter(pl.col("js") > P.high)["entropy_tuned"].to_numpy()
    want, _ = np.histogram(high, bins=P.hist_bins, range=(0, top))
    part = one(got, pair="rl", model="tuned", js_bin="high (JS > 0.1)").sort("bin")
    dense = np.zeros(P.hist_bins, int)
    dense[part["bin"].to_numpy()] = part["count"].to_numpy()
    np.testing.assert_array_equal(dense, want)
    assert part["share"].sum() == pytest.approx(1.0)
    low_n = (frame["js"] < P.near_zero).sum()
    assert one(got, pair="rl", model="base", js_bin="low (JS < 0.001)")["count"].sum() == low_n


def test_sequence_means_match_python(tables, dumps):
    frame = dumps[1]["rl"]
    got = one(tables["sequence_means"], pair="rl")
    key = (int(frame["problem_id"][0]), int(frame["sample_idx"][0]))
    sel = frame.filter((pl.col("problem_id") == key[0]) & (pl.col("sample_idx") == key[1]))
    row = one(got, problem_id=key[0], sample_idx=key[1])
    assert row["length"].item() == sel.height
    assert row["mean_js"].item() == pytest.approx(float(sel["js"].cast(pl.Float64).mean()), rel=1e-5)
    assert got.height == frame.select("problem_id", "sample_idx").unique().height


def test_token_frequency_matches_counter(tables, dumps):
    frame = dumps[1]["rl"]
    counts = Counter(t for t, js in zip(frame["token_text"], frame["js"]) if js > P.high)
    got = one(tables["token_frequency"], pair="rl", js_bin="high (JS > 0.1)").sort("rank")
    assert got["count"].to_list() == sorted(counts.values(), reverse=True)[:P.top_tokens]
    assert counts[got["token_text"][0]] == got["count"][0]


def test_token_js_histograms_cover_all_occurrences(tables, dumps):
    frame = dumps[1]["rl"]
    got = one(tables["token_js_histograms"], pair="rl")
    for (_sel, tok), part in got.group_by("selected_by", "token_text"):
        assert part["count"].sum() == (frame["token_text"] == tok).sum()
    assert got["selected_by"].n_unique() == 2


def test_topk_overlap_matches_numpy(tables, dumps):
    frame = dumps[1]["rl"]
    ov = np.stack(frame["topk_overlap"].to_numpy())
    high = frame["js"].to_numpy() > P.high
    got = one(tables["topk_overlap"], pair="rl", subset="JS > 0.1").sort("k")
    np.testing.assert_allclose(got["overlap"].to_numpy(), (ov[high] / np.arange(1, 11)).mean(0), rtol=1e-9)
    assert (got["n"] == high.sum()).all()
    every = one(tables["topk_overlap"], pair="rl", subset="all").sort("k")
    assert (every["n"] == frame.height).all()
    np.testing.assert_allclose(every["overlap"].to_numpy(), (ov / np.arange(1, 11)).mean(0), rtol=1e-9)
    for t in P.overlap_thresholds:  # Fig. 7's other thresholds
        above = frame["js"].to_numpy() > t
        got = one(tables["topk_overlap"], pair="rl", threshold=t).sort("k")
        assert got["subset"][0] == f"JS > {t:g}" and (got["n"] == above.sum()).all()
        if above.any():
            np.testing.assert_allclose(got["overlap"].to_numpy(), (ov[above] / np.arange(1, 11)).mean(0), rtol=1e-9)


def test_rank_distribution_matches_python(tables, dumps):
    frame = dumps[1]["sft"].filter(pl.col("js") > P.high)
    got = one(tables["rank_distribution"], pair="sft", tuned_rank=2)
    r = frame["base_rank_of_tuned_top2"].to_numpy()
    assert one(got, base_rank="1")["count"].item() == (r == 1).sum()
    assert one(got, base_rank="4-5")["count"].item() == ((r >= 4) & (r <= 5)).sum()
    assert one(got, base_rank=">10")["count"].item() == (r > 10).sum()
    assert got["share"].sum() == pytest.approx(1.0)


def test_tail_shares_and_tuned_probs_match_numpy(tables, dumps):
    frame = dumps[1]["rl"].filter(pl.col("js") > P.high)
    bp = frame["base_prob_of_tuned_top1"].to_numpy()
    got = one(tables["tail_shares"], pair="rl").sort("threshold")
    for row in got.iter_rows(named=True):
        assert row["share"] == pytest.approx((bp < row["threshold"]).mean())
    tuned_top1 = np.array([x[0] for x in frame["topk_probs_tuned"].to_list()])[bp < 0.01]
    want, _ = np.histogram(tuned_top1, bins=P.hist_bins // 2, range=(0, 1))
    part = one(tables["tail_tuned_probs"], pair="rl")
    dense = np.zeros(P.hist_bins // 2, int)
    dense[part["bin"].to_numpy()] = part["count"].to_numpy()
    np.testing.assert_array_equal(dense, want)


def test_top3_changes_match_numpy(tables, dumps):
    frame = dumps[1]["rl"].filter(pl.col("js") > P.high)
    r = np.array([x[1] for x in frame["topk_probs_tuned"].to_list()], dtype=np.float64)
    q = frame["base_prob_of_tuned_top2"].to_numpy().astype(np.float64)
    got = one(tables["top3_changes"], pair="rl", tuned_rank=2, measure="difference").sort("bin")
    want, _ = np.histogram(r - q, bins=P.hist_bins, range=(-1, 1))
    dense = np.zeros(P.hist_bins, int)
    dense[got["bin"].to_numpy()] = got["count"].to_numpy()
    np.testing.assert_array_equal(dense, want)
    ratio = one(tables["top3_changes"], pair="rl", tuned_rank=2, measure="log10_ratio")
    assert ratio["count"].sum() == frame.height


def test_summary_matches_numpy(tables, dumps):
    frame = dumps[1]["sft"]
    js = frame["js"].to_numpy()
    high = js > P.high
    row = one(tables["shift_summary"], pair="sft").row(0, named=True)
    assert row["n_positions"] == frame.height and row["n_high"] == high.sum()
    assert row["pct_near_zero"] == pytest.approx(100 * (js < P.near_zero).mean())
    assert row["pct_high"] == pytest.approx(100 * high.mean())
    ov = np.stack(frame["topk_overlap"].to_numpy())[high]
    assert row["overlap_at_2"] == pytest.approx((ov[:, 1] / 2).mean())
    assert row["pct_top1_in_base_top3"] == pytest.approx(100 * (frame["base_rank_of_tuned_top1"].to_numpy()[high]
                                                                <= 3).mean())
    assert row["pct_tail_below_0.01"] == pytest.approx(
        100 * (frame["base_prob_of_tuned_top1"].to_numpy()[high] < 0.01).mean())
    md = summary_markdown(tables["shift_summary"])
    assert md.count("\n") == 2 + 2 and "| sft | eval |" in md


def test_empty_high_subset_gives_zeros_nulls_and_figures(dumps, tmp_path):
    """No position above the high threshold: tables stay well-formed and every figure renders."""
    p = StatsParams(top_p=0.7, high=0.99, window=8, hist_bins=10)
    tabs = {name: f(dumps[0], p) for name, f in TABLES.items()}
    assert tabs["rank_distribution"].height == 0
    assert tabs["tail_shares"]["share"].null_count() == tabs["tail_shares"].height
    assert (tabs["tail_shares"]["n"] == 0).all()
    s = tabs["shift_summary"]
    assert (s["n_high"] == 0).all() and s["overlap_at_1"].null_count() == s.height
    assert "—" in summary_markdown(s)
    for name in FIGURES:
        render(name, tabs, ["rl"], ["rl", "sft"], p, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").stat().st_size > 5000
        assert (tmp_path / f"{name}.pdf").read_bytes()[:4] == b"%PDF"


def test_figures_render_and_are_deterministic(tables, tmp_path):
    for name in FIGURES:
        for rep in ("a", "b"):
            render(name, tables, ["rl"], ["rl", "sft"], P, tmp_path / f"{name}{rep}.pdf", tmp_path / f"{name}{rep}.png")
        assert (tmp_path / f"{name}a.png").read_bytes() == (tmp_path / f"{name}b.png").read_bytes(), name
    assert not list(tmp_path.glob(".*tmp"))
