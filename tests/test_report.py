"""snakemake --report on the ci run: one file with every figure and table, the scorecard and the viewers,
grouped by the paper's sections; and the scorecard the run writes."""

import re

import polars as pl
import pytest
from conftest import needs_chromium, run_snakemake
from tokenshift.analysis.scorecard import VERDICTS


def test_scorecard_judges_all_13_claims_with_a_rule(ci_run):
    card = pl.read_csv(ci_run / "tables" / "scorecard.csv")
    assert card["id"].to_list() == [f"C{i}" for i in range(1, 14)]
    assert set(card["verdict"]) <= set(VERDICTS) and card["rule"].str.len_chars().min() > 40
    # ci has cross-sampling, evolution, variants and SFT pairs: every claim has its data
    assert "not run" not in set(card["verdict"]), card.filter(pl.col("verdict") == "not run")
    assert "| C13 |" in (ci_run / "tables" / "scorecard.md").read_text()


@pytest.fixture(scope="module")
def report(ci_workdir, tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "report.html"
    proc = run_snakemake(ci_workdir, "--report", str(path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return path


def test_report_holds_every_figure_table_scorecard_and_viewer(ci_run, report):
    text = report.read_text()
    for section in ("0 Scorecard", "Where RL changes the distribution", "cross-sampling", "Training evolution",
                    "Divergence-weighted training", "SFT against RL", "Token viewer"):
        assert section in text, section
    expected = [p.name for p in (ci_run / "figures").glob("*.pdf")] + ["scorecard.csv", "shift_summary.csv",
                                                                       "weight_gap.csv", "training_variants.csv"]
    missing = [name for name in expected if not re.search(re.escape(name), text)]
    assert not missing, missing
    assert "eval.html" in text  # a viewer page


@needs_chromium
def test_report_opens_in_headless_chromium(report, browser_page):
    page, errors = browser_page
    page.goto(report.as_uri())
    page.wait_for_load_state("networkidle")
    shown = page.locator("body").inner_text()
    assert "0 Scorecard" in shown and "8 Token viewer" in shown, shown[:2000]
    page.get_by_text("0 Scorecard").click()  # a section lists its files
    page.get_by_text("scorecard.csv").first.wait_for()
    assert errors == []
