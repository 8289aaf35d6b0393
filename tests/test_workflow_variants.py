"""Training variants in the ci run: trained, logged per update, evaluated and tabulated (with each
weighted run's share of updates whose KL_old is nonzero); and the table's functions on small inputs."""

from __future__ import annotations

import polars as pl
import pytest
import yaml
from conftest import ROOT
from tokenshift.evaluation.variants import COLUMNS, kl_old_nonzero_share, to_latex, to_markdown, variant_table
from tokenshift.pipeline.config import resolve_config, validate_config

CI = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())


def expected_nonzero_share(steps: int, k: int, warmup: int) -> float:
    """Share of a weighted run's updates whose KL_old is nonzero: all but the first update after each of its
    steps / k rollouts (run on the sampling policy itself) and, with a warmup, the second update of the first
    rollout (the warmup's first optimiser step has learning rate 0, so the policy has not moved)."""
    rollouts = -(-steps // k)
    return (steps - rollouts - (1 if warmup and k > 1 else 0)) / steps


@pytest.mark.parametrize("name", ["config.yaml", "training.yaml"])
def test_three_quarters_of_the_weighted_updates_weigh(name):
    """The default run's and config/training.yaml's variants (and their DAPO baseline: one recipe) weigh at
    least 75% of their updates (the paper: 15 of 16)."""
    cfg = resolve_config(validate_config(yaml.safe_load((ROOT / "config" / name).read_text())))
    rl = cfg["train_rl"]
    for v in cfg["train_variants"]:
        share = expected_nonzero_share(v["steps"], rl["steps_per_generation"], rl["warmup"])
        assert share >= 0.75, (name, v["name"], share)


def test_variants_are_tabulated_per_seed_and_in_the_papers_form(ci_run):
    t = pl.read_csv(ci_run / "tables" / "training_variants.csv")
    assert t.columns == COLUMNS == ["variant", "seed", "dataset", "mean_at_n", "ci_low", "ci_high",
                                    "kl_old_nonzero_share"]
    assert t["variant"].to_list() == ["dapo", "highkl", "simplerl"]
    assert ((t["ci_low"] <= t["mean_at_n"]) & (t["mean_at_n"] <= t["ci_high"])).all()
    md = (ci_run / "tables" / "training_variants.md").read_text()
    assert "vs dapo" in md and "Table 2" in md and "Updates with nonzero KL_old" in md
    assert r"\begin{tabular}" in (ci_run / "tables" / "training_variants.tex").read_text()


def test_weighted_variant_has_nonzero_kl_old_after_the_first_update_of_each_rollout(ci_run):
    t = pl.read_csv(ci_run / "tables" / "training_variants.csv")
    shares = dict(zip(t["variant"], t["kl_old_nonzero_share"]))
    assert shares["dapo"] is None and shares["simplerl"] is None  # unweighted runs compute no KL_old
    m = pl.read_csv(ci_run / "train/highkl/0/metrics.csv")
    # KL_old is 0 exactly where no optimiser step has moved the policy since the rollout: the first update
    # after each rollout, and updates after steps taken at learning rate 0 (the warmup's first).
    frame = m.with_columns(pl.col("learning_rate").gt(0).cast(pl.Int32).cum_sum().shift(1, fill_value=0)
                           .over("rollout_step").alias("moving_steps"))
    still = frame["moving_steps"] == 0
    kl = frame["kl_old/mean"]
    assert (kl.filter(still).drop_nulls() == 0).all() and (kl.filter(~still).drop_nulls() > 0).all()
    assert shares["highkl"] == pytest.approx(float((kl.drop_nulls() > 0).mean()))
    if kl.null_count() == 0:  # no update lost all its groups to dynamic sampling
        rl = CI["train_rl"]
        assert shares["highkl"] == pytest.approx(expected_nonzero_share(rl["steps"], rl["steps_per_generation"],
                                                                        rl["warmup"]))


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


def test_kl_old_share_counts_updates_with_a_kl_old_only():
    assert kl_old_nonzero_share(pl.DataFrame({"step": [1, 2], "loss": [0.1, 0.2]})) is None  # unweighted run
    m = pl.DataFrame({"step": [1, 2, 3, 4, 5, 6, 7, 8], "kl_old/mean": [0.0, 1e-4, 2e-4, 3e-4, 0.0, None, 1e-5, 2e-5]})
    assert kl_old_nonzero_share(m) == pytest.approx(5 / 7)  # update 6 weighted no token


def test_table_reports_each_runs_share_and_its_mean_over_seeds():
    accuracy = pl.DataFrame({"model": ["base", "dapo_s0", "highkl_s0", "highkl_s1"] * 2,
                             "dataset": ["eval"] * 4 + ["train"] * 4,
                             "mean_at_n": [0.3, 0.5, 0.6, 0.55] * 2, "ci_low": [0.2, 0.4, 0.5, 0.45] * 2,
                             "ci_high": [0.4, 0.6, 0.7, 0.65] * 2})
    models = {"dapo_s0": ("dapo", 0), "highkl_s0": ("highkl", 0), "highkl_s1": ("highkl", 1)}
    t = variant_table(accuracy, models, {("dapo", 0): None, ("highkl", 0): 0.75, ("highkl", 1): 0.8})
    assert t.columns == COLUMNS and t.height == 6
    assert t.filter(pl.col("variant") == "highkl")["kl_old_nonzero_share"].to_list() == [0.75, 0.8, 0.75, 0.8]
    assert t.filter(pl.col("variant") == "dapo")["kl_old_nonzero_share"].null_count() == 2
    md = to_markdown(t, "dapo").splitlines()
    header = [c.strip() for c in md[0].strip("|").split("|")]
    share = header.index("Updates with nonzero KL_old")
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")] for line in md[2:4]}
    assert rows["highkl"][share] == "78%" and rows["dapo"][share] == "—"  # mean of 75% and 80%
    assert "Updates with nonzero KL\\_old" in to_latex(t, "dapo")
