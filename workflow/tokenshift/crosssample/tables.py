"""Cross-sampling summaries: accuracy, switched tokens and tail share per budget, and the paper's Table 1/3.

Token percentages are per sequence, then averaged (paper Table 1: "computed at the
sequence level"); "eff." excludes identity swaps, "all" includes them. The tail share is
pooled over the sweep's tokens: the share of decoded tokens after each response's ``handover``
(the sweep writes it per row: right after the switch that spends the budget, 0 at budget 0, the
length if the budget is never spent), the primary-only work a plain sampling engine could take over.
"""

from __future__ import annotations

import polars as pl

from tokenshift.errors import UserError
from tokenshift.evaluation.accuracy import mean_at_n
from tokenshift.files.markdown import latex_table, markdown_table

TABLE_COLUMNS = ["pair", "dataset", "direction", "mode", "eps", "budget", "mean_at_n", "ci_low", "ci_high",
                 "eff_tokens", "all_tokens", "eff_pct", "all_pct", "tail_share"]
# What the table stage reads of a sweep's responses (not the tokens or the text).
RESPONSE_COLUMNS = ["budget", "problem_id", "sample_idx", "length", "n_switches", "n_effective", "handover",
                    "correct"]


def tail_share(length: pl.Series, handover: pl.Series) -> float:
    """Share of decoded tokens after the handover: sum(length - handover) / sum(length); 0 with no tokens."""
    total = int(length.sum())
    return float((length - handover).sum() / total) if total else 0.0


def summarize(responses: pl.DataFrame, keys: dict, n_boot: int, seed: int) -> pl.DataFrame:
    """One row per budget: Mean@n with bootstrap CI, mean switched tokens (# and % of the response),
    and the tail share (from the responses' ``handover``)."""
    rows = []
    for (budget,), g in responses.group_by("budget", maintain_order=True):
        acc = mean_at_n(g.select("problem_id", "sample_idx", "correct"), n_boot, seed)
        length = g["length"].cast(pl.Float64).clip(lower_bound=1.0)
        rows.append({
            **keys, "budget": int(budget), "mean_at_n": acc["mean_at_n"], "ci_low": acc["ci_low"],
            "ci_high": acc["ci_high"], "eff_tokens": float(g["n_effective"].mean()),
            "all_tokens": float(g["n_switches"].mean()),
            "eff_pct": float((g["n_effective"] / length).mean() * 100),
            "all_pct": float((g["n_switches"] / length).mean() * 100),
            "tail_share": tail_share(g["length"], g["handover"]),
        })
    return pl.DataFrame(rows).select(TABLE_COLUMNS).sort("budget")


def target_table(table: pl.DataFrame, accuracy: pl.DataFrame, pairs: list[dict], tolerance: float) -> pl.DataFrame:
    """Table 1/3: per (pair, dataset, direction, eps), the smallest budget reaching the target.

    Forward targets the tuned model's Mean@n (reached when >= target - tolerance); reverse
    targets the base model's (reached when <= target + tolerance). Initial accuracy is the
    budget-0 run: the primary alone on the very problems, samples and keyed noise of the
    sweep (the accuracy table may use other problems or more samples), which is why
    :func:`tokenshift.crosssample.spec.check_budgets` requires budget 0 in every sweep.
    Without a budget reaching the target the row shows the closest budget and ``reached``
    is false.
    """
    acc = {(r["model"], r["dataset"]): r["mean_at_n"] for r in accuracy.iter_rows(named=True)}
    by_name = {p["name"]: p for p in pairs}
    rows = []
    targeted = table.filter(pl.col("mode") == "targeted")
    for (pair, dataset, direction, eps), g in targeted.group_by(["pair", "dataset", "direction", "eps"],
                                                               maintain_order=True):
        g = g.sort("budget")
        if g["budget"][0] != 0:
            raise UserError(f"cross-sampling table of {pair}/{dataset}/{direction}/eps {eps} has no budget 0 "
                             "(the initial accuracy); sweeps must include it")
        p = by_name[pair]
        forward = direction == "forward"
        target = acc.get((p["tuned"] if forward else p["base"], dataset))
        if target is None:
            raise UserError(f"accuracy table has no row for pair {pair} on {dataset}")
        hit = (g["mean_at_n"] >= target - tolerance) if forward else (g["mean_at_n"] <= target + tolerance)
        reached = g.filter(hit)
        best = reached.head(1) if reached.height else g.sort("mean_at_n", descending=forward).head(1)
        r = best.row(0, named=True)
        rows.append({
            "pair": pair, "dataset": dataset, "direction": direction, "eps": eps, "budget": r["budget"],
            "eff_pct": r["eff_pct"], "all_pct": r["all_pct"], "eff_tokens": r["eff_tokens"],
            "all_tokens": r["all_tokens"], "initial_acc": float(g["mean_at_n"][0]), "final_acc": r["mean_at_n"],
            "target_acc": float(target), "tolerance": tolerance, "reached": bool(reached.height),
        })
    return pl.DataFrame(rows)


def _cells(r: dict) -> list[str]:
    arrow = ">=" if r["direction"] == "forward" else "<="
    final = f"{100 * r['final_acc']:.1f}" + ("" if r["reached"] else " (not reached)")
    return [r["dataset"], f"{r['pair']} {r['direction']}", f"{r['eps']:g}", str(r["budget"]),
            f"{r['eff_pct']:.2f}%", f"{r['all_pct']:.2f}%", f"{r['eff_tokens']:.1f}", f"{r['all_tokens']:.1f}",
            f"{100 * r['initial_acc']:.1f}", final,
            f"{arrow} {100 * r['target_acc']:.1f} ± {100 * r['tolerance']:.1f}"]


HEADERS = ["Dataset", "Method", "eps", "Budget", "Eff. % tokens", "% tokens", "Eff. # tokens", "# tokens",
           "Initial acc. (%)", "Final acc. (%)", "Target (%)"]


def to_markdown(t: pl.DataFrame) -> str:
    return markdown_table(HEADERS, (_cells(r) for r in t.iter_rows(named=True)))


def to_latex(t: pl.DataFrame) -> str:
    return latex_table(HEADERS, (_cells(r) for r in t.iter_rows(named=True)), n_left=3)
