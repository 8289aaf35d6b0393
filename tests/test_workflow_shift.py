"""The shift stage of the ci pipeline: every figure, the summary table and the dumps exist and are sane."""

from __future__ import annotations

import polars as pl
from tokenshift.figures.catalog import FIGURES
from tokenshift.files.parquet import read_metadata


def test_every_shift_figure_is_built(ci_run):
    for name in FIGURES:
        pdf, png = ci_run / "figures" / f"{name}.pdf", ci_run / "figures" / f"{name}.png"
        assert pdf.read_bytes()[:4] == b"%PDF", name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000, name


def test_shift_summary_table(ci_run):
    csv = pl.read_csv(ci_run / "tables" / "shift_summary.csv")
    assert set(csv["pair"]) == {"rl", "sft", "sftmatched", "simplerl"}
    assert (csv["n_positions"] > 0).all()
    for col in ("pct_near_zero", "pct_high"):
        assert csv[col].is_between(0, 100).all()
    md = (ci_run / "tables" / "shift_summary.md").read_text()
    assert md.startswith("| pair | dataset |") and md.count("\n") == 2 + csv.height


def test_dumps_cover_the_tuned_responses(ci_run):
    for pair in ("rl", "sft"):
        dump = pl.read_parquet(ci_run / "dump" / pair / "eval.parquet")
        gen = pl.read_parquet(ci_run / "generations" / pair / "eval.parquet")
        assert dump.height == sum(len(r) for r in gen["response_ids"])
        assert dump["js"].is_between(0, 0.6932).all() and dump["correct"].null_count() == 0
        meta = read_metadata(ci_run / "dump" / pair / "eval.parquet")
        assert meta["tuned"].endswith(f"models/{pair}") and meta["base"].endswith("models/base")


def test_rl_model_moved_from_its_base(ci_run):
    """The ci RL pair is two different models, so the dump, statistics and cross-sampling see real shifts.

    An RL run whose rewards never vary within a group has zero advantages and leaves the base
    unchanged; every divergence would then be 0 and every switch an identity swap.
    """
    dump = pl.read_parquet(ci_run / "dump" / "rl" / "eval.parquet")
    assert (dump["js"] > 1e-3).sum() >= 5, "RL pair: too few positions with top-p JS > 1e-3"
    assert (dump["js_full"] > 1e-3).any()
    assert (dump["logprob_base"] != dump["logprob_tuned"]).mean() > 0.5
    summary = pl.read_csv(ci_run / "tables" / "shift_summary.csv").filter(
        (pl.col("pair") == "rl") & (pl.col("dataset") == "eval"))
    assert summary["pct_near_zero"].item() < 100


def test_weight_gap_table(ci_run):
    """Table 6's σ for each pair of the run: both fine-tuned models moved, and by a small fraction."""
    df = pl.read_csv(ci_run / "tables" / "weight_gap.csv")
    assert df["pair"].to_list() == ["rl", "sft", "sftmatched", "simplerl"]
    assert all(0 < s < 0.5 for s in df["sigma"])
    assert "Table 6" in (ci_run / "tables" / "weight_gap.md").read_text()
