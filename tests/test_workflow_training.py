"""Training evolution, the matched SFT, the variant pairs and rule provenance in the ci run (config/ci.yaml:
rl saves steps 8 and 16 of 16)."""

import json
from pathlib import Path

import polars as pl


def test_every_checkpoint_is_scored_and_the_last_one_is_the_final_model(ci_run):
    t = pl.read_csv(ci_run / "tables" / "training_evolution.csv")
    assert t["step"].to_list() == [8, 16] and set(t["dataset"]) == {"eval"}
    final = t.filter(pl.col("step") == 16).row(0, named=True)
    # checkpoint-16 holds the final rl model's weights: its high-JS set is the final one, and its
    # samples (keyed by problem and sample, not by model name) score exactly as rl's do
    assert final["jaccard_final"] == 1.0
    acc = pl.read_csv(ci_run / "tables" / "accuracy.csv")
    rl = acc.filter((pl.col("model") == "rl") & (pl.col("dataset") == "eval")).row(0, named=True)
    assert final["mean_at_n"] == rl["mean_at_n"]
    shares = pl.read_parquet(ci_run / "dump" / "rl" / "eval.parquet", columns=["js"])["js"]
    assert final["positions"] == shares.len()
    assert (ci_run / "figures" / "fig29_training_evolution.pdf").stat().st_size > 0


def test_variant_pairs_go_through_the_shift_statistics(ci_run):
    summary = pl.read_csv(ci_run / "tables" / "shift_summary.csv")
    assert {"rl", "sft", "simplerl"} <= set(summary["pair"])


def provenance(log: Path) -> dict:
    first = log.read_text().splitlines()[0]
    assert first.startswith("provenance: "), log
    return json.loads(first.removeprefix("provenance: "))


def test_matched_sft_trains_on_rls_budget(ci_run):
    """ci's RL: 16 steps, 8 rollouts of 16 prompts = 128 problems; so sft_matched takes 16 steps of 8."""
    record = provenance(ci_run / "logs" / "train_sft_matched.log")
    assert (record["params"]["train"]["steps"], record["params"]["train"]["batch_size"]) == (16, 8)
    assert record["wildcards"] == {"sft": "sft_matched"}
    acc = pl.read_csv(ci_run / "tables" / "accuracy.csv")
    assert "sft_matched" in set(acc["model"])
    gap = pl.read_csv(ci_run / "tables" / "weight_gap.csv")
    assert "sftmatched" in set(gap["pair"])


def test_every_rule_log_opens_with_its_provenance(ci_run):
    logs = [p for p in (ci_run / "logs").rglob("*.log") if p.stat().st_size]
    assert len(logs) > 30
    for log in logs:
        record = provenance(log)
        assert record["rule"] and record["versions"]["torch"] and record["versions"]["tokenshift"]


def test_finetuning_data_is_sampled_and_analysed_at_top_p_1(ci_run):
    """ci: the rl pair on the first 16 training prompts (Fig. 36-38), beside the eval set."""
    from tokenshift.files.parquet import read_metadata

    path = ci_run / "dump" / "rl" / "finetuning.parquet"
    assert read_metadata(path)["top_p"] == 1.0
    d = pl.read_parquet(path, columns=["problem_id", "js", "js_full"])
    assert d["problem_id"].n_unique() == 16 and (d["js"] == d["js_full"]).all()
    assert provenance(ci_run / "logs" / "generate" / "rl" / "finetuning.log")["params"]["sampling"]["top_p"] == 1.0
    summary = pl.read_csv(ci_run / "tables" / "shift_summary.csv")
    assert ("rl", "finetuning") in set(zip(summary["pair"], summary["dataset"]))
    js = pl.read_parquet(ci_run / "stats" / "js_percentiles.parquet")
    labels = js.filter(pl.col("column") == "js").group_by("dataset").agg(pl.col("top_p").unique())
    assert {r["dataset"]: r["top_p"] for r in labels.iter_rows(named=True)} == {"eval": [0.9], "finetuning": [1.0],
                                                                                       "eval_p070": [0.7]}


def test_responses_resampled_at_another_top_p_are_analysed_at_it(ci_run):
    """ci: rl's responses sampled again at top-p 0.7 (Fig. 26), beside the run's own at 0.9."""
    from tokenshift.files.parquet import read_metadata

    assert read_metadata(ci_run / "dump" / "rl" / "eval_p070.parquet")["top_p"] == 0.7
    assert provenance(ci_run / "logs" / "generate" / "rl" / "eval_p070.log")["params"]["sampling"]["top_p"] == 0.7
    js = pl.read_parquet(ci_run / "stats" / "js_percentiles.parquet").filter(
        (pl.col("pair") == "rl") & (pl.col("column") == "js"))
    assert set(zip(js["dataset"], js["top_p"])) >= {("eval", 0.9), ("eval_p070", 0.7)}
    assert (ci_run / "figures" / "fig26_js_topp_sampling.pdf").stat().st_size > 1000
    assert not (ci_run / "generations" / "base" / "eval_p070.parquet").exists()  # only the listed pairs' models
