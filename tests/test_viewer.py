"""The token viewer: its data against the dump and the switches, and the page in a real headless Chromium.

The browser test needs Debian's chromium package (``apt-get install chromium``; CI installs it) and
Playwright's Python driver (in the test extra), which drives that system Chromium; Playwright's own
browser download is not used. Without chromium the browser test skips, saying so.
"""

from __future__ import annotations

import json
import re

import polars as pl
from conftest import ROOT, needs_chromium
from tokenshift.figures.viewer import DUMP_COLUMNS, dump_responses, render_page, switch_responses


def test_dump_view_carries_each_tokens_numbers_in_order(ci_run):
    dump = pl.read_parquet(ci_run / "dump" / "rl" / "eval.parquet", columns=DUMP_COLUMNS)
    responses = dump_responses(dump, limit=3)
    assert len(responses) == 3
    key = (pl.col("problem_id") == responses[0]["problem"]) & (pl.col("sample_idx") == responses[0]["sample"])
    first = dump.filter(key)
    assert [t[0] for t in responses[0]["tokens"]] == first["token_id"].to_list()
    row = first.row(0, named=True)
    tok = responses[0]["tokens"][0]
    assert tok[5] == [[i, round(p, 4)] for i, p in zip(row["topk_ids_base"][:5], row["topk_probs_base"][:5])]
    assert tok[4] == row["base_rank_of_tuned_top1"] and responses[0]["correct"] == row["correct"]


def test_switch_view_marks_every_switch_of_the_largest_budget(ci_run):
    sweep = next((ci_run / "crosssample" / "rl" / "eval" / "forward").glob("eps*"))
    resp, sw = pl.read_parquet(sweep / "targeted.parquet"), pl.read_parquet(sweep / "targeted_switches.parquet")
    shown = switch_responses(resp, sw, limit=10_000)
    marks = {(r["problem"], r["sample"], i): t[1] for r in shown for i, t in enumerate(r["tokens"]) if t[1]}
    assert len(marks) == sw.height
    for s in sw.iter_rows(named=True):
        m = marks[(s["problem_id"], s["sample_idx"], s["position"])]
        assert (m[0], m[1], m[3]) == (s["primary_token"], s["intervention_token"], s["effective"])


def test_page_embeds_data_that_cannot_close_its_script():
    page = render_page("t", "s", [{"name": "v", "kind": "dump", "responses": []}], {"1": "</script><b>"}, 0.1)
    data = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)["vocab"]["1"] == "</script><b>"
    assert "http://" not in page and "https://" not in page  # nothing fetched: works offline


@needs_chromium
def test_viewer_page_works_in_headless_chromium(ci_run, browser_page):
    page, errors = browser_page
    page_path = ci_run / "viewer" / "rl" / "eval.html"
    page.goto(page_path.as_uri())
    tokens = page.locator(".tok")
    assert tokens.count() > 100
    # hover the most divergent token on the page: its details name both models' candidates
    shaded = page.locator(".tok[style*='rgba']")
    assert shaded.count() > 0
    shaded.first.hover()
    details = page.locator("#details").inner_text()
    assert "base top-5" in details and "tuned top-5" in details and re.search(r"0\.\d{4}", details)
    page.select_option("#correct", "false")
    assert page.locator(".resp[data-correct='true']").count() == 0
    page.select_option("#correct", "all")
    before = page.locator(".resp").count()
    page.eval_on_selector("#thr", "e => { e.value = '0.1'; e.dispatchEvent(new Event('input')); }")
    assert 0 < page.locator(".resp").count() < before
    page.get_by_role("button", name=re.compile("forward cross-sampling")).click()
    switched = page.locator(".tok.sw")
    assert switched.count() > 0
    switched.first.hover()
    assert "intervention's token" in page.locator("#details").inner_text()
    shot = ROOT / "results" / "viewer_screenshot.png"
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot))
    assert errors == []
