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
from tokenshift.figures.viewer import (
    DUMP_COLUMNS,
    displayable,
    dump_responses,
    render_page,
    switch_responses,
    write_viewer,
)


def test_dump_view_carries_each_tokens_numbers_in_order(ci_run):
    dump = pl.read_parquet(ci_run / "dump" / "rl" / "eval.parquet", columns=DUMP_COLUMNS)
    responses = dump_responses(dump, limit=3)
    assert len(responses) == 3
    key = (pl.col("problem_id") == responses[0]["problem"]) & (pl.col("sample_idx") == responses[0]["sample"])
    first = dump.filter(key)
    assert [t["id"] for t in responses[0]["tokens"]] == first["token_id"].to_list()
    row = first.row(0, named=True)
    tok = responses[0]["tokens"][0]
    for model in ("base", "tuned"):
        top = zip(row[f"topk_ids_{model}"][:5], row[f"topk_probs_{model}"][:5])
        assert tok[f"top_{model}"] == [[i, round(p, 4)] for i, p in top]
    assert tok["js"] == round(row["js"], 5) and tok["h_base"] == round(row["entropy_base"], 3)
    assert tok["base_rank"] == row["base_rank_of_tuned_top1"] and responses[0]["correct"] == row["correct"]


def test_switch_view_marks_every_switch_of_the_largest_budget(ci_run):
    sweep = next((ci_run / "crosssample" / "rl" / "eval" / "forward").glob("eps*"))
    resp, sw = pl.read_parquet(sweep / "targeted.parquet"), pl.read_parquet(sweep / "targeted_switches.parquet")
    shown = switch_responses(resp, sw, limit=10_000)
    marks = {(r["problem"], r["sample"], i): t["switch"] for r in shown for i, t in enumerate(r["tokens"])
             if t["switch"]}
    assert len(marks) == sw.height
    for s in sw.iter_rows(named=True):
        m = marks[(s["problem_id"], s["sample_idx"], s["position"])]
        assert (m["primary"], m["intervention"], m["effective"]) == (s["primary_token"], s["intervention_token"],
                                                                    s["effective"])


# Token texts a model can produce that must not break the page or run anything in it; each renders as text.
HOSTILE = ["</script>", "<!--<script>", '"><img src=x onerror="window.pwned=1">', "\ud800", "\u200f\u202eevil\u202c",
           "<script>window.pwned=2</script>", "' onmouseover='window.pwned=3' x='", "&amp; &lt;", "]]>",
           "<svg onload=window.pwned=4>", "\u2028\u2029", "\r\n", "a\x00b", "\ud83d\ude00", "\udc00!", " "]
# each one's text in the page's data (and, as JSON, in the details): a lone surrogate (which UTF-8 cannot
# encode) becomes U+FFFD, a surrogate pair its character
TEXT = [{"\ud800": "\ufffd", "\ud83d\ude00": "\U0001f600", "\udc00!": "\ufffd!"}.get(t, t) for t in HOSTILE]
# and the token as the page shows it: NUL, which HTML drops, as U+FFFD too
SHOWN = [t.replace("\x00", "\ufffd") for t in TEXT]
# every element the page has of itself: a token text adds none
PAGE_ELEMENTS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "div", "span", "label", "select",
                 "option", "input", "main", "p", "script", "button", "h3", "code", "table", "tbody", "tr", "th", "td",
                 "br"}


def test_page_embeds_data_that_cannot_close_its_script():
    vocab = {"1": "</script><b>", "2": "<!--<script>", "3": "'&\"", "4": "\ud800"}
    page = render_page("t", "s", [{"name": "v", "kind": "dump", "responses": []}], vocab, 0.1)
    data = re.search(r'<script id="data" type="application/json">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)["vocab"] == {**vocab, "4": "\ufffd"}
    assert not set("<>&'") & set(data)  # nothing that HTML reads inside a script element
    page.encode("utf-8")  # the lone surrogate is gone: the page can be written
    assert "http://" not in page and "https://" not in page  # nothing fetched: works offline


def test_title_and_subtitle_are_text():
    page = render_page('<b>"t"</b>', "<script>s</script>\udfff", [], {}, 0.1)
    assert "<b>" not in page and "<script>s" not in page
    assert "&lt;b&gt;&#34;t&#34;&lt;/b&gt;" in page and "&lt;script&gt;s&lt;/script&gt;\ufffd" in page


def test_displayable_replaces_only_lone_surrogates():
    assert [displayable(t) for t in HOSTILE] == TEXT
    assert displayable("plain \u00e9\u4e2d") == "plain \u00e9\u4e2d" and displayable("") == ""


def hostile_views() -> list[dict]:
    """A dump view and a switches view whose every token, candidate and switch is a hostile text."""
    n = len(HOSTILE)
    dump = [{"id": i, "js": 0.3, "h_base": 1.0, "h_tuned": 0.5, "base_rank": 2,
             "top_base": [[(i + k) % n, 0.2] for k in range(5)],
             "top_tuned": [[(i + n - k) % n, 0.2] for k in range(5)]} for i in range(n)]
    switches = [{"id": i, "switch": {"primary": i, "intervention": (i + 1) % n, "score": 0.5,
                                     "effective": i % 2 == 0}} for i in range(n)]
    return [{"name": "JS per token", "kind": "dump",
             "responses": [{"problem": 0, "sample": 0, "correct": True, "tokens": dump}]},
            {"name": "forward cross-sampling (eps 0.1)", "kind": "switches",
             "responses": [{"problem": 0, "sample": 0, "correct": False, "tokens": switches}]}]


@needs_chromium
def test_hostile_token_texts_render_as_text_and_run_nothing(tmp_path, browser_page):
    page, errors = browser_page
    title, subtitle = '<img src=x onerror="window.pwned=5">', "</title><script>window.pwned=6</script>"
    path = tmp_path / "viewer.html"
    write_viewer(path, title, subtitle, hostile_views(), HOSTILE.__getitem__, 0.1)
    page.goto(path.as_uri())

    def code_texts() -> list[str]:
        return [json.loads(c) for c in page.eval_on_selector_all("#details code", "els => els.map(e => e.textContent)")]

    assert page.title() == title and page.inner_text("h1") == title and page.inner_text(".sub") == subtitle
    assert page.eval_on_selector_all(".tok", "els => els.map(e => e.textContent)") == SHOWN
    n = len(HOSTILE)
    for i in range(n):  # the details of each token (some have no box to hover): itself, the base and tuned top-5
        page.locator(".tok").nth(i).dispatch_event("mouseover")
        assert code_texts() == [TEXT[i]] + [TEXT[(i + k) % n] for k in range(5)] + \
            [TEXT[(i + n - k) % n] for k in range(5)]
    page.get_by_role("button", name="forward cross-sampling (eps 0.1)").click()
    assert page.eval_on_selector_all(".tok.sw", "els => els.map(e => e.textContent)") == SHOWN
    for i in range(n):  # a switch: the token, the primary's and the intervention's
        page.locator(".tok").nth(i).dispatch_event("click")
        assert code_texts() == [TEXT[i], TEXT[i], TEXT[(i + 1) % n]]
    assert page.evaluate("esc(`&<>\"'\\r\\0`)") == "&amp;&lt;&gt;&quot;&#39;&#13;&#65533;"
    page.wait_for_timeout(300)  # a failed image load would have fired its onerror by now
    assert page.evaluate("window.pwned") is None
    assert set(page.eval_on_selector_all("*", "els => els.map(e => e.localName)")) <= PAGE_ELEMENTS
    assert page.locator("script").count() == 2 and page.locator("img, svg, iframe, object, embed").count() == 0
    assert errors == []


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
