"""Training variants in the ci run: trained, logged per update, evaluated and tabulated."""

from __future__ import annotations

import polars as pl


def test_variants_are_tabulated_per_seed_and_in_the_papers_form(ci_run):
    t = pl.read_csv(ci_run / "tables" / "training_variants.csv")
    assert t.columns == ["variant", "seed", "dataset", "mean_at_n", "ci_low", "ci_high"]
    assert t["variant"].to_list() == ["dapo", "highkl", "simplerl"]
    assert ((t["ci_low"] <= t["mean_at_n"]) & (t["mean_at_n"] <= t["ci_high"])).all()
    md = (ci_run / "tables" / "training_variants.md").read_text()
    assert "vs dapo" in md and "Table 2" in md
    assert r"\begin{tabular}" in (ci_run / "tables" / "training_variants.tex").read_text()


def test_unchanged_variant_is_the_rl_model_bit_for_bit(ci_run):
    assert (ci_run / "models/variants/dapo/s0/model.safetensors").read_bytes() == \
        (ci_run / "models/rl/model.safetensors").read_bytes()


def test_weighted_variant_moves_its_weights_and_logs_them(ci_run):
    m = pl.read_csv(ci_run / "train/highkl/0/metrics.csv")
    assert {"rollout_step", "reward", "entropy", "kl_old/mean", "kl_old/p95", "weights/mean", "weights/min",
            "weights/max", "weights/moved_share"} <= set(m.columns)
    assert m["weights/moved_share"].max() > 0 and m["weights/max"].max() > 1.01
    assert (m["weights/min"] >= 0.85 - 1e-6).all() and (m["weights/max"] <= 1.15 + 1e-6).all()  # 1 ± s/2
    plain = pl.read_csv(ci_run / "train/dapo/0/metrics.csv")
    assert "weights/mean" not in plain.columns


def test_simplerl_like_variant_pays_a_kl_penalty(ci_run):
    m = pl.read_csv(ci_run / "train/simplerl/0/metrics.csv")
    assert "kl" in m.columns and m["kl"].max() > 0  # TRL logs the penalty's KL only with beta > 0


def test_training_curves_are_drawn(ci_run):
    for ext in ("pdf", "png"):
        assert (ci_run / "figures" / f"training_curves.{ext}").stat().st_size > 1000
