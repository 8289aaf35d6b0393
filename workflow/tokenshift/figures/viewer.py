"""The token viewer: one self-contained HTML page per (pair, dataset) to read responses token by token.

Each token of the tuned model's responses is shaded by its JS divergence between the pair's two
models; hovering or clicking a token shows both models' top-5 next tokens with probabilities,
their entropies and the base rank of the tuned top-1. Filters: correct / incorrect responses and
a JS threshold (tokens below it are left unshaded, responses with none above it hidden). For a
pair that is cross-sampled on the dataset, a second tab shows the targeted runs at the largest
budget with every switch point marked, and the primary's and the intervention's candidate token.

The page has no external resource (no CDN, no font): the data is embedded as JSON and the page
works from the file system.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import polars as pl

from tokenshift.files.atomic import atomic_file

TOP = 5  # candidates shown per model
DUMP_COLUMNS = ["problem_id", "sample_idx", "position", "token_id", "js", "entropy_base", "entropy_tuned",
                "topk_ids_base", "topk_probs_base", "topk_ids_tuned", "topk_probs_tuned", "base_rank_of_tuned_top1",
                "correct"]


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def dump_responses(dump: pl.DataFrame, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` responses of a dump as compact records: per token [id, js, H_base, H_tuned,
    base rank of tuned top-1, base top-5 [[id, p]...], tuned top-5]."""
    keys = dump.select("problem_id", "sample_idx").unique(maintain_order=True).head(limit)
    rows = dump.join(keys, on=["problem_id", "sample_idx"], how="semi").sort("problem_id", "sample_idx", "position")
    out = []
    for (pid, sid), g in rows.group_by("problem_id", "sample_idx", maintain_order=True):
        tokens = [[r["token_id"], _r(r["js"], 5), _r(r["entropy_base"], 3), _r(r["entropy_tuned"], 3),
                   r["base_rank_of_tuned_top1"],
                   [[i, _r(p)] for i, p in zip(r["topk_ids_base"][:TOP], r["topk_probs_base"][:TOP])],
                   [[i, _r(p)] for i, p in zip(r["topk_ids_tuned"][:TOP], r["topk_probs_tuned"][:TOP])]]
                  for r in g.iter_rows(named=True)]
        out.append({"problem": pid, "sample": sid, "correct": g["correct"][0], "tokens": tokens})
    return out


def switch_responses(responses: pl.DataFrame, switches: pl.DataFrame, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` responses of a cross-sampling run at its largest budget, each token id with its
    switch (None, or [primary token, intervention token, score, effective])."""
    top = responses.filter(pl.col("budget") == responses["budget"].max()).sort("problem_id", "sample_idx").head(limit)
    by_key: dict[tuple[int, int], dict[int, list]] = {}
    for s in switches.iter_rows(named=True):
        by_key.setdefault((s["problem_id"], s["sample_idx"]), {})[s["position"]] = [
            s["primary_token"], s["intervention_token"], _r(s["score"], 5), bool(s["effective"])]
    out = []
    for r in top.iter_rows(named=True):
        marks = by_key.get((r["problem_id"], r["sample_idx"]), {})
        out.append({"problem": r["problem_id"], "sample": r["sample_idx"], "correct": r["correct"],
                    "tokens": [[t, marks.get(i)] for i, t in enumerate(r["response_ids"])]})
    return out


def token_texts(ids: set[int], decode) -> dict[str, str]:
    """Display text of every token id the page shows (``decode``: id -> str)."""
    return {str(i): decode(i) for i in sorted(ids)}


def used_ids(views: list[dict[str, Any]]) -> set[int]:
    ids: set[int] = set()
    for view in views:
        for resp in view["responses"]:
            for tok in resp["tokens"]:
                ids.add(tok[0])
                if view["kind"] == "dump":
                    ids.update(i for i, _ in tok[5] + tok[6])
                elif tok[1] is not None:
                    ids.update(tok[1][:2])
    return ids


def render_page(title: str, subtitle: str, views: list[dict[str, Any]], vocab: dict[str, str], high: float) -> str:
    """The whole page: views are {"name", "kind": "dump" | "switches", "responses"}."""
    data = json.dumps({"views": views, "vocab": vocab, "high": high}, separators=(",", ":"))
    data = data.replace("</", "<\\/")  # a token text cannot close the script element
    return (PAGE.replace("__TITLE__", html.escape(title)).replace("__SUBTITLE__", html.escape(subtitle))
            .replace("__DATA__", data))


def write_viewer(path: str | Path, title: str, subtitle: str, views: list[dict[str, Any]], decode,
                 high: float) -> None:
    page = render_page(title, subtitle, views, token_texts(used_ids(views), decode), high)
    with atomic_file(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")


PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
header { padding: 10px 16px; background: #f3f3f3; border-bottom: 1px solid #ccc; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
.sub { font-size: 13px; color: #555; }
.controls { margin-top: 8px; font-size: 13px; display: flex; gap: 16px; align-items: center; flex-wrap: wrap; }
main { display: flex; }
#responses { flex: 1; padding: 8px 16px; height: calc(100vh - 120px); overflow-y: auto; }
#details { width: 340px; padding: 8px 12px; border-left: 1px solid #ccc; font-size: 13px;
           height: calc(100vh - 120px); overflow-y: auto; }
.resp { margin: 6px 0 10px 0; padding: 6px; border: 1px solid #e2e2e2; border-radius: 4px;
        font-family: ui-monospace, monospace; font-size: 13px; line-height: 1.7; white-space: pre-wrap; }
.resp .meta { font-family: system-ui, sans-serif; font-size: 11px; color: #666; display: block; }
.tok { cursor: pointer; border-radius: 2px; }
.tok:hover, .tok.sel { outline: 1px solid #333; }
.sw { border-bottom: 2px solid #1f5fbf; }
.sw.eff { background: #ffd27f; }
table { border-collapse: collapse; width: 100%; margin-bottom: 8px; }
td, th { border-bottom: 1px solid #eee; padding: 2px 4px; text-align: left; }
.tabs button { margin-right: 6px; }
.tabs button.on { font-weight: bold; }
code { background: #f6f6f6; }
</style>
</head>
<body>
<header>
<h1>__TITLE__</h1>
<div class="sub">__SUBTITLE__</div>
<div class="controls">
  <span class="tabs" id="tabs"></span>
  <label>responses <select id="correct"><option value="all">all</option><option value="true">correct</option>
    <option value="false">incorrect</option></select></label>
  <label>JS threshold <input id="thr" type="range" min="0" max="0.7" step="0.005" value="0">
    <span id="thrv">0</span></label>
  <span id="count"></span>
</div>
</header>
<main><div id="responses"></div><div id="details"><p>Hover over or click a token to see both models'
top-5 candidates.</p></div></main>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("data").textContent);
const vocab = DATA.vocab;
let view = 0;
function text(id) { const t = vocab[String(id)]; return t === undefined ? "#" + id : t; }
function esc(s) { return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
function shade(js, thr) {
  if (js === null || js <= thr || js <= 0) return "";
  const a = Math.min(1, Math.log10(1 + 1e4 * js) / Math.log10(1 + 1e4 * 0.6931));
  return "background: rgba(214, 39, 40, " + a.toFixed(3) + ")";
}
function candidates(list) {
  return list.map(([id, p]) => "<tr><td><code>" + esc(JSON.stringify(text(id))) + "</code></td><td>" +
    (p === null ? "" : p.toFixed(4)) + "</td></tr>").join("");
}
function showDump(tok) {
  const [id, js, hb, ht, rank, base, tuned] = tok;
  document.getElementById("details").innerHTML =
    "<h3>token <code>" + esc(JSON.stringify(text(id))) + "</code></h3>" +
    "<p>JS " + (js === null ? "n/a" : js.toFixed(5)) + " nats<br>entropy base " + hb + ", tuned " + ht +
    "<br>base rank of tuned top-1: " + rank + "</p>" +
    "<table><tr><th>base top-5</th><th>p</th></tr>" + candidates(base) + "</table>" +
    "<table><tr><th>tuned top-5</th><th>p</th></tr>" + candidates(tuned) + "</table>";
}
function showSwitch(tok) {
  const [id, sw] = tok;
  let body = "<h3>token <code>" + esc(JSON.stringify(text(id))) + "</code></h3>";
  if (sw === null) body += "<p>no switch here: the primary model's token</p>";
  else body += "<p>switch point (" + (sw[3] ? "effective" : "identity swap") + ", score " + sw[2] + ")</p>" +
    "<table><tr><th>primary's token</th><td><code>" + esc(JSON.stringify(text(sw[0]))) + "</code></td></tr>" +
    "<tr><th>intervention's token</th><td><code>" + esc(JSON.stringify(text(sw[1]))) + "</code></td></tr></table>";
  document.getElementById("details").innerHTML = body;
}
function render() {
  const v = DATA.views[view];
  const want = document.getElementById("correct").value;
  const thr = parseFloat(document.getElementById("thr").value);
  document.getElementById("thrv").textContent = thr.toFixed(3);
  const box = document.getElementById("responses");
  const parts = [];
  let shown = 0;
  v.responses.forEach((r, ri) => {
    if (want !== "all" && String(r.correct) !== want) return;
    if (v.kind === "dump" && thr > 0 && !r.tokens.some(t => t[1] !== null && t[1] > thr)) return;
    shown += 1;
    const spans = r.tokens.map((t, ti) => {
      if (v.kind === "dump") return '<span class="tok" data-r="' + ri + '" data-t="' + ti + '" style="' +
        shade(t[1], thr) + '">' + esc(text(t[0])) + "</span>";
      const cls = t[1] === null ? "tok" : "tok sw" + (t[1][3] ? " eff" : "");
      return '<span class="' + cls + '" data-r="' + ri + '" data-t="' + ti + '">' + esc(text(t[0])) + "</span>";
    }).join("");
    parts.push('<div class="resp" data-correct="' + r.correct + '"><span class="meta">problem ' + r.problem +
      ", sample " + r.sample + " &middot; " + (r.correct === null ? "unscored" : r.correct ? "correct" : "incorrect") +
      "</span>" + spans + "</div>");
  });
  box.innerHTML = parts.join("");
  document.getElementById("count").textContent = shown + " of " + v.responses.length + " responses";
}
function pick(ev) {
  const el = ev.target.closest(".tok");
  if (!el) return;
  const v = DATA.views[view];
  const tok = v.responses[+el.dataset.r].tokens[+el.dataset.t];
  document.querySelectorAll(".tok.sel").forEach(e => e.classList.remove("sel"));
  el.classList.add("sel");
  (v.kind === "dump" ? showDump : showSwitch)(tok);
}
const responses = document.getElementById("responses");
responses.addEventListener("mouseover", pick);
responses.addEventListener("click", pick);
document.getElementById("correct").addEventListener("change", render);
document.getElementById("thr").addEventListener("input", render);
const tabs = document.getElementById("tabs");
DATA.views.forEach((v, i) => {
  const b = document.createElement("button");
  b.textContent = v.name;
  b.addEventListener("click", () => { view = i; tabs.querySelectorAll("button").forEach(
    (x, j) => x.classList.toggle("on", j === i)); render(); });
  tabs.appendChild(b);
});
tabs.firstChild.classList.add("on");
render();
</script>
</body>
</html>
"""
