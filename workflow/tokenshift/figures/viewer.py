"""The token viewer: one self-contained HTML page per (pair, dataset) to read responses token by token.

Each token of the tuned model's responses is shaded by its JS divergence between the pair's two
models; hovering or clicking a token shows both models' top-5 next tokens with probabilities,
their entropies and the base rank of the tuned top-1. Filters: correct / incorrect responses and
a JS threshold (tokens below it are left unshaded, responses with none above it hidden). For a
pair that is cross-sampled on the dataset, a second tab shows the targeted runs at the largest
budget with every switch point marked, and the primary's and the intervention's candidate token.

The page is the Jinja2 template viewer.html.j2 beside this module, rendered with autoescape. It has
no external resource (no CDN, no font): the data is embedded as JSON (Jinja2's ``tojson``, which
escapes ``< > & '`` so that no token text can end its script element) and the page works from the
file system. The page's script puts token texts into the document escaped, as text only. A lone
surrogate in a text (which UTF-8 cannot encode) shows as U+FFFD, and so does NUL (which HTML drops).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import polars as pl

from tokenshift.files.atomic import atomic_file

TOP = 5  # candidates shown per model
TEMPLATE = "viewer.html.j2"
DUMP_COLUMNS = ["problem_id", "sample_idx", "position", "token_id", "js", "entropy_base", "entropy_tuned",
                "topk_ids_base", "topk_probs_base", "topk_ids_tuned", "topk_probs_tuned", "base_rank_of_tuned_top1",
                "correct"]


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None else round(float(x), digits)


def _top(ids: list[int], probs: list[float]) -> list[list]:
    """A model's first ``TOP`` candidates as [id, p] pairs (pairs, not objects: a page holds millions)."""
    return [[i, _r(p)] for i, p in zip(ids[:TOP], probs[:TOP])]


def dump_responses(dump: pl.DataFrame, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` responses of a dump as records {problem, sample, correct, tokens}; a token is
    {id, js, h_base, h_tuned (entropies), base_rank (of the tuned top-1), top_base, top_tuned ([id, p]...)}."""
    keys = dump.select("problem_id", "sample_idx").unique(maintain_order=True).head(limit)
    rows = dump.join(keys, on=["problem_id", "sample_idx"], how="semi").sort("problem_id", "sample_idx", "position")
    out = []
    for (pid, sid), g in rows.group_by("problem_id", "sample_idx", maintain_order=True):
        tokens = [{"id": r["token_id"], "js": _r(r["js"], 5), "h_base": _r(r["entropy_base"], 3),
                   "h_tuned": _r(r["entropy_tuned"], 3), "base_rank": r["base_rank_of_tuned_top1"],
                   "top_base": _top(r["topk_ids_base"], r["topk_probs_base"]),
                   "top_tuned": _top(r["topk_ids_tuned"], r["topk_probs_tuned"])}
                  for r in g.iter_rows(named=True)]
        out.append({"problem": pid, "sample": sid, "correct": g["correct"][0], "tokens": tokens})
    return out


def switch_responses(responses: pl.DataFrame, switches: pl.DataFrame, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` responses of a cross-sampling run at its largest budget; a token is {id, switch}, the
    switch None or {primary, intervention (the two models' tokens), score, effective}."""
    top = responses.filter(pl.col("budget") == responses["budget"].max()).sort("problem_id", "sample_idx").head(limit)
    by_key: dict[tuple[int, int], dict[int, dict[str, Any]]] = {}
    for s in switches.iter_rows(named=True):
        by_key.setdefault((s["problem_id"], s["sample_idx"]), {})[s["position"]] = {
            "primary": s["primary_token"], "intervention": s["intervention_token"], "score": _r(s["score"], 5),
            "effective": bool(s["effective"])}
    out = []
    for r in top.iter_rows(named=True):
        marks = by_key.get((r["problem_id"], r["sample_idx"]), {})
        out.append({"problem": r["problem_id"], "sample": r["sample_idx"], "correct": r["correct"],
                    "tokens": [{"id": t, "switch": marks.get(i)} for i, t in enumerate(r["response_ids"])]})
    return out


def token_texts(ids: set[int], decode) -> dict[str, str]:
    """Display text of every token id the page shows (``decode``: id -> str)."""
    return {str(i): decode(i) for i in sorted(ids)}


def used_ids(views: list[dict[str, Any]]) -> set[int]:
    ids: set[int] = set()
    for view in views:
        for resp in view["responses"]:
            for tok in resp["tokens"]:
                ids.add(tok["id"])
                if view["kind"] == "dump":
                    ids.update(i for i, _ in tok["top_base"] + tok["top_tuned"])
                elif tok["switch"] is not None:
                    ids.update((tok["switch"]["primary"], tok["switch"]["intervention"]))
    return ids


def displayable(text: str) -> str:
    """``text`` with each lone surrogate (which UTF-8 cannot encode) replaced by U+FFFD; a surrogate pair
    becomes its character."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resources.files(__package__))), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "separators": (",", ":")}
    return env.get_template(TEMPLATE)


def render_page(title: str, subtitle: str, views: list[dict[str, Any]], vocab: dict[str, str], high: float) -> str:
    """The whole page: views are {"name", "kind": "dump" | "switches", "responses"}, vocab maps each token id
    (as a string) to its text."""
    data = {"views": views, "vocab": {k: displayable(v) for k, v in vocab.items()}, "high": high}
    return _template().render(title=displayable(title), subtitle=displayable(subtitle), data=data)


def write_viewer(path: str | Path, title: str, subtitle: str, views: list[dict[str, Any]], decode,
                 high: float) -> None:
    page = render_page(title, subtitle, views, token_texts(used_ids(views), decode), high)
    with atomic_file(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
