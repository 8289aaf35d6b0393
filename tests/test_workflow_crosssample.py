"""The ci pipeline's cross-sampling outputs: the table, Table 1/3 and the figures exist and are sane."""

from __future__ import annotations

import polars as pl
import yaml
from conftest import ROOT
from tokenshift.crosssample.tables import TABLE_COLUMNS
from tokenshift.pipeline.config import SCHEMA_PATH, validate_config


def _cs_config():
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    return validate_config(cfg, SCHEMA_PATH)


def test_crosssampling_table(ci_run):
    cfg = _cs_config()
    cs = cfg["crosssample"]
    t = pl.read_csv(ci_run / "tables" / "crosssampling.csv")
    assert t.columns == TABLE_COLUMNS
    modes = {"targeted", "random"} if cs["random_baseline"] else {"targeted"}
    assert set(t["mode"]) == modes and set(t["direction"]) == set(cs["directions"])
    assert t.height == len(modes) * len(cs["directions"]) * len(cs["eps"]) * len(cs["budgets"]) * len(cfg["datasets"])
    assert ((t["ci_low"] <= t["mean_at_n"]) & (t["mean_at_n"] <= t["ci_high"])).all()
    assert ((t["mean_at_n"] >= 0) & (t["mean_at_n"] <= 1)).all()
    assert (t["eff_tokens"] <= t["all_tokens"] + 1e-12).all() and (t["all_tokens"] <= t["budget"] + 1e-12).all()
    assert ((t["all_pct"] >= 0) & (t["all_pct"] <= 100)).all()
    for _, g in t.group_by(["direction", "mode", "eps"]):
        g = g.sort("budget")
        assert g["all_tokens"].is_sorted()  # a larger budget never switches less (shared prefixes)
        assert g.filter(pl.col("budget") == 0)["all_tokens"].item() == 0
    assert t.filter(pl.col("mode") == "targeted")["all_tokens"].max() > 0  # the ci sweep does switch


def test_budget_zero_is_the_primary_alone(ci_run):
    """Budget-0 responses are plain generations of the primary: same keyed noise, same tokens."""
    cfg = _cs_config()
    pair, eps = cfg["pairs"][0], f"{cfg['crosssample']['eps'][0]:g}"
    for direction, primary in (("forward", pair["base"]), ("reverse", pair["tuned"])):
        path = ci_run / "crosssample" / pair["name"] / "eval" / direction / f"eps{eps}" / "targeted.parquet"
        cs = pl.read_parquet(path).filter(pl.col("budget") == 0)
        gen = pl.read_parquet(ci_run / "generations" / primary / "eval.parquet")
        zero = cs.join(gen, on=["problem_id", "sample_idx"], suffix="_gen")
        assert zero.height == cs.height > 0
        assert (zero["response_ids"] == zero["response_ids_gen"]).all(), direction


def test_target_tables(ci_run):
    t = pl.read_csv(ci_run / "tables" / "crosssample_targets.csv")
    assert t.height >= 1 and set(t["direction"]) <= {"forward", "reverse"}
    assert ((t["initial_acc"] >= 0) & (t["initial_acc"] <= 1)).all()
    md = (ci_run / "tables" / "crosssample_targets.md").read_text()
    tex = (ci_run / "tables" / "crosssample_targets.tex").read_text()
    assert md.count("\n") == t.height + 2 and "Eff. % tokens" in md
    assert tex.startswith(r"\begin{tabular}") and tex.count(r"\\") == t.height + 1


def test_crosssample_figures(ci_run):
    cfg = _cs_config()
    pair = cfg["pairs"][0]["name"]
    for kind in ("accuracy", "random", "pairs"):
        for ext in ("pdf", "png"):
            f = ci_run / "figures" / f"crosssample_{kind}_{pair}_eval.{ext}"
            assert f.is_file() and f.stat().st_size > 1000, f


def test_sweeps_make_effective_switches(ci_run):
    """The ci pair differs, so switches change tokens: effective switches, forked completions, a random baseline."""
    cfg = _cs_config()
    cs = cfg["crosssample"]
    pair, eps = cfg["pairs"][0]["name"], f"{cs['eps'][0]:g}"
    top = max(cs["budgets"])
    for direction in cs["directions"]:
        run = ci_run / "crosssample" / pair / "eval" / direction / f"eps{eps}"
        switches = pl.read_parquet(run / "targeted_switches.parquet")
        assert switches["effective"].sum() > 0, direction
        responses = pl.read_parquet(run / "targeted.parquet")
        assert responses["n_effective"].max() > 0, direction
        # A budget-0 completion and the largest-budget one of the same sample differ somewhere.
        zero = responses.filter(pl.col("budget") == 0).select("problem_id", "sample_idx", "response_ids")
        full = responses.filter(pl.col("budget") == top).select("problem_id", "sample_idx", "response_ids")
        both = zero.join(full, on=["problem_id", "sample_idx"], suffix="_top")
        assert (both["response_ids"] != both["response_ids_top"]).any(), direction
        if cs["random_baseline"]:
            assert pl.read_parquet(run / "random.parquet")["n_switches"].max() > 0, direction
