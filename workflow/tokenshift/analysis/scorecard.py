"""The reproduction scorecard: one row per claim of the paper, with this run's numbers and a verdict.

Each claim is one function registered in :data:`CLAIMS`; its ``rule`` is the decision in plain
words, printed in the table, and the function implements exactly that. Verdicts:

- ``reproduced`` / ``not reproduced``: the run's numbers decide, beyond their uncertainty;
- ``inconclusive``: a confidence interval straddles the threshold, or too few positions or
  responses to decide (proportions over positions use a 95% Wilson interval, which treats
  positions as independent and so errs towards deciding);
- ``not run``: the run lacks the data (the pair, stage or table is not configured).

No claim is ``reproduced`` by default: every function returns ``not run`` until it has read
what it needs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tokenshift.evaluation.variants import versus_baseline
from tokenshift.files.markdown import markdown_table
from tokenshift.registry import Registry

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)
COLUMNS = ["id", "claim", "section", "paper", "this_run", "rule", "decided_by", "verdict"]
MIN_HIGH = 30  # high-JS positions below which the fine-mechanics claims (C7-C9) are inconclusive


@dataclass
class Inputs:
    """What the claims read: the run's tables (None when not produced) and the pairs' roles."""

    dataset: str
    dapo: str
    simplerl: str | None = None
    sft: list[str] = field(default_factory=list)
    weighted_variants: list[str] = field(default_factory=list)
    baseline_variant: str | None = None
    summary: pl.DataFrame | None = None
    position: pl.DataFrame | None = None
    entropy: pl.DataFrame | None = None
    targets: pl.DataFrame | None = None
    crosssampling: pl.DataFrame | None = None
    evolution: pl.DataFrame | None = None
    weight_gap: pl.DataFrame | None = None
    variants: pl.DataFrame | None = None

    def dapo_rows(self, table: pl.DataFrame | None, **equal: str) -> pl.DataFrame | None:
        """``table``'s rows of the DAPO pair on the judged dataset (and the ``equal`` column values); None
        when the run did not produce the table."""
        if table is None:
            return None
        keep = (pl.col("pair") == self.dapo) & (pl.col("dataset") == self.dataset)
        for column, value in equal.items():
            keep &= pl.col(column) == value
        return table.filter(keep)

    def summary_row(self, pair: str | None) -> dict | None:
        if self.summary is None or pair is None:
            return None
        rows = self.summary.filter((pl.col("pair") == pair) & (pl.col("dataset") == self.dataset))
        return rows.row(0, named=True) if rows.height else None


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    section: str
    paper: str
    rule: str
    decided_by: str
    judge: Callable[[Inputs], tuple[str, str]]


CLAIMS: Registry[Claim] = Registry("claim")


def claim(id: str, text: str, section: str, paper: str, rule: str, decided_by: str):
    """Register the decorated judge (Inputs -> (this run's numbers, verdict)) as claim ``id``."""

    def add(judge: Callable[[Inputs], tuple[str, str]]) -> Callable[[Inputs], tuple[str, str]]:
        CLAIMS.register(id)(Claim(id, text, section, paper, rule, decided_by, judge))
        return judge

    return add


def wilson(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (0..1)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half))  # contains p despite rounding


def versus(share: float, n: int, threshold: float, above: bool = True) -> str:
    """Verdict for "share > threshold" (``above``) or "share < threshold", shares in 0..1, by Wilson CI."""
    lo, hi = wilson(share * n, n)
    if (lo > threshold) if above else (hi < threshold):
        return REPRODUCED
    if (hi < threshold) if above else (lo > threshold):
        return NOT_REPRODUCED
    return INCONCLUSIVE


def combine(verdicts: list[str]) -> str:
    """All parts must hold: any failure fails, then any undecided part leaves the claim inconclusive."""
    for v in (NOT_RUN, NOT_REPRODUCED, INCONCLUSIVE):
        if v in verdicts:
            return v
    return REPRODUCED if verdicts else NOT_RUN


@claim("C1", "Most token positions have near-zero JS between base and RL model", "§3.1, Fig. 1",
       "DAPO > 83%, SimpleRL > 98% of positions with JS < 0.001",
       "share of positions with JS below stats.near_zero above 83% for the DAPO pair and above 98% for the SimpleRL "
       "pair (if configured), each beyond its 95% Wilson interval", "shift_summary (pct_near_zero)")
def _c1(x: Inputs) -> tuple[str, str]:
    parts, text = [], []
    for pair, threshold in ((x.dapo, 0.83), (x.simplerl, 0.98)):
        if pair is None:
            continue
        row = x.summary_row(pair)
        if row is None:
            parts.append(NOT_RUN)
            continue
        share = row["pct_near_zero"] / 100
        parts.append(versus(share, row["n_positions"], threshold))
        text.append(f"{pair}: {100 * share:.1f}% of {row['n_positions']}")
    return "; ".join(text) or "—", combine(parts)


@claim("C2", "Mean JS is highest at the start, lowest in the middle and rises again at the end", "§3.1, Fig. 2",
       "U-shaped mean JS over normalised position",
       "mean JS of the first and of the last position bin both above the mean JS of the bins centred in [0.3, 0.7] "
       "(DAPO pair); inconclusive with fewer than 100 positions in an end bin", "stats/position_profile")
def _c2(x: Inputs) -> tuple[str, str]:
    p = x.dapo_rows(x.position)
    if p is None or p.height < 3:
        return "—", NOT_RUN
    p = p.sort("bin")
    first, last = p.row(0, named=True), p.row(p.height - 1, named=True)
    middle = p.filter(pl.col("center").is_between(0.3, 0.7))
    mid = float((middle["mean"] * middle["n"]).sum() / middle["n"].sum()) if middle.height else float("nan")
    text = f"start {first['mean']:.4f}, middle {mid:.4f}, end {last['mean']:.4f}"
    if min(first["n"], last["n"]) < 100:
        return text, INCONCLUSIVE
    return text, REPRODUCED if first["mean"] > mid and last["mean"] > mid else NOT_REPRODUCED


@claim("C3", "Low-JS positions are mostly low-entropy; high-JS positions occur across entropies", "§3.1, Fig. 3",
       "low-JS mass concentrated at low entropy, high-JS spread over the entropy range",
       "over the DAPO pair's base-model entropy histogram (stats.hist_bins bins up to the largest entropy): more than "
       "half of the low-JS positions lie in the lowest tenth of the range, and high-JS positions lie above it at "
       "least twice as often as low-JS ones", "stats/entropy_by_divergence")
def _c3(x: Inputs) -> tuple[str, str]:
    e = x.dapo_rows(x.entropy, model="base")
    if e is None:
        return "—", NOT_RUN
    bins = x.entropy["bin"].max() + 1 if x.entropy.height else 0
    cut = max(1, bins // 10)
    shares = {}
    for label, g in e.group_by("js_bin"):
        n = int(g["count"].sum())
        shares[label[0].split()[0]] = (float(g.filter(pl.col("bin") < cut)["count"].sum()) / n if n else None, n)
    if "low" not in shares or "high" not in shares or not shares["low"][1]:
        return "—", NOT_RUN
    (low_in, n_low), (high_in, n_high) = shares["low"], shares["high"]
    text = (f"lowest tenth of entropy: {100 * low_in:.1f}% of {n_low} low-JS, "
            f"{100 * high_in:.1f}% of {n_high} high-JS positions")
    if n_high < MIN_HIGH:
        return text, INCONCLUSIVE
    ok = low_in > 0.5 and (1 - high_in) >= 2 * (1 - low_in)
    return text, REPRODUCED if ok else NOT_REPRODUCED


def _target(x: Inputs, direction: str, limit: float) -> tuple[str, str]:
    t = x.dapo_rows(x.targets, direction=direction)
    if t is None or not t.height:
        return "—", NOT_RUN
    best = t.sort("reached", "eff_pct", descending=[True, False]).row(0, named=True)
    text = (f"eps {best['eps']:g}, budget {best['budget']}: {best['initial_acc']:.3f} -> {best['final_acc']:.3f} "
            f"(target {best['target_acc']:.3f}) with {best['eff_pct']:.2f}% effective switches")
    return text, REPRODUCED if best["reached"] and best["eff_pct"] < limit else NOT_REPRODUCED


@claim("C4", "Forward cross-sampling recovers the RL model's accuracy with few switched tokens", "§3.2, Table 1",
       "RL-level accuracy with < 10% effective intervention tokens",
       "some forward sweep of the DAPO pair reaches the RL model's Mean@n within crosssample.tolerance with less than "
       "10% effective switches", "crosssample_targets")
def _c4(x: Inputs) -> tuple[str, str]:
    return _target(x, "forward", 10.0)


@claim("C5", "Reverse cross-sampling collapses the RL model to base accuracy with few switched tokens",
       "§3.2, Table 1", "base-level accuracy with < 11% effective intervention tokens",
       "some reverse sweep of the DAPO pair reaches the base model's Mean@n within crosssample.tolerance with less "
       "than 11% effective switches", "crosssample_targets")
def _c5(x: Inputs) -> tuple[str, str]:
    return _target(x, "reverse", 11.0)


@claim("C6", "Switching at random positions, at the same rate, gains little", "§3.2, Fig. 45",
       "random-position forward sampling stays near base accuracy",
       "at the largest budget of the DAPO pair's forward sweep, the random baseline's 95% CI lies wholly below the "
       "targeted run's; overlapping CIs are inconclusive", "crosssampling (mode random vs targeted)")
def _c6(x: Inputs) -> tuple[str, str]:
    c = x.dapo_rows(x.crosssampling, direction="forward")
    if c is None or not c.height or "random" not in set(c["mode"]):
        return "—", NOT_RUN
    eps = c["eps"].min()
    c = c.filter((pl.col("eps") == eps) & (pl.col("budget") == c["budget"].max()))
    rows = {r["mode"]: r for r in c.iter_rows(named=True)}
    tg, rd = rows["targeted"], rows["random"]
    text = (f"eps {eps:g}, budget {tg['budget']}: targeted {tg['mean_at_n']:.3f} [{tg['ci_low']:.3f}, "
            f"{tg['ci_high']:.3f}], random {rd['mean_at_n']:.3f} [{rd['ci_low']:.3f}, {rd['ci_high']:.3f}]")
    if rd["ci_high"] < tg["ci_low"]:
        return text, REPRODUCED
    if rd["ci_low"] > tg["ci_high"]:
        return text, NOT_REPRODUCED
    return text, INCONCLUSIVE


def _high_positions_claim(x: Inputs, value: Callable[[dict], float], threshold: float, above: bool,
                          fmt: str) -> tuple[str, str]:
    row = x.summary_row(x.dapo)
    if row is None or row["n_high"] is None:
        return "—", NOT_RUN
    share, n = value(row), int(row["n_high"])
    if n == 0 or share is None or (isinstance(share, float) and math.isnan(share)):
        return f"{n} positions with JS > high", INCONCLUSIVE
    text = fmt.format(100 * share, n)
    return text, INCONCLUSIVE if n < MIN_HIGH else versus(share, n, threshold, above)


@claim("C7", "At high-JS positions, base and RL top-k sets overlap heavily for k >= 2", "§4.1, Fig. 7",
       "> 80% average top-k overlap at JS > 0.1 for k >= 2 (SimpleRL; DAPO slightly lower)",
       f"mean of the top-k overlap (|intersection| / k) over k = 2, 3, 5, 10 at JS above stats.high, DAPO pair, above "
       f"80% beyond its Wilson interval; fewer than {MIN_HIGH} such positions is inconclusive",
       "shift_summary (overlap_at_k)")
def _c7(x: Inputs) -> tuple[str, str]:
    return _high_positions_claim(
        x, lambda r: sum(r[f"overlap_at_{k}"] for k in (2, 3, 5, 10)) / 4, 0.80, True,
        "mean top-k overlap (k >= 2) {:.1f}% over {} high-JS positions")


@claim("C8", "The RL model's new top-1 was usually already in the base model's top 3", "§4.1, Fig. 17",
       "> 80% of high-JS positions",
       f"share of positions with JS above stats.high whose tuned top-1 token has base rank <= 3, DAPO pair, above "
       f"80% beyond its Wilson interval; fewer than {MIN_HIGH} such positions is inconclusive",
       "shift_summary (pct_top1_in_base_top3)")
def _c8(x: Inputs) -> tuple[str, str]:
    return _high_positions_claim(x, lambda r: r["pct_top1_in_base_top3"] / 100, 0.80, True,
                                 "{:.1f}% of {} high-JS positions")


def _percent(value: float | None) -> float | None:
    """A percentage column as a share; a missing one (an empty table cell) stays missing, 0 stays 0."""
    return None if value is None else value / 100


@claim("C9", "Few RL top-1 tokens were improbable under the base model", "§4.2, Fig. 18",
       "~5% (DAPO) of high-JS positions have base probability < 0.01 for the tuned top-1",
       f"share of positions with JS above stats.high whose tuned top-1 token has base probability below 0.01, DAPO "
       f"pair, below 10% beyond its Wilson interval; fewer than {MIN_HIGH} such positions is inconclusive",
       "shift_summary (pct_tail_below_0.01)")
def _c9(x: Inputs) -> tuple[str, str]:
    return _high_positions_claim(x, lambda r: _percent(r.get("pct_tail_below_0.01")), 0.10, False,
                                 "{:.1f}% of {} high-JS positions")


@claim("C10", "JS grows over RL training, its upper percentiles fastest", "§4.3, Fig. 29",
       "JS percentiles rise monotonically; p95/p99 faster than the median",
       "from the first to the last saved checkpoint, the 99th JS percentile rises, and rises by more than the 95th, "
       "which rises by at least as much as the median", "training_evolution")
def _c10(x: Inputs) -> tuple[str, str]:
    if x.evolution is None:
        return "—", NOT_RUN
    e = x.evolution.filter(pl.col("dataset") == x.dataset).sort("step")
    if e.height < 2:
        return "—", NOT_RUN
    first, last = e.row(0, named=True), e.row(e.height - 1, named=True)
    d = {q: last[f"js_p{q}"] - first[f"js_p{q}"] for q in (50, 95, 99)}
    text = (f"steps {first['step']} -> {last['step']}: p50 {first['js_p50']:.2g} -> {last['js_p50']:.2g}, "
            f"p95 {first['js_p95']:.2g} -> {last['js_p95']:.2g}, p99 {first['js_p99']:.2g} -> {last['js_p99']:.2g}")
    return text, REPRODUCED if d[99] > 0 and d[99] > d[95] >= d[50] else NOT_REPRODUCED


@claim("C11", "SFT shifts more positions than RL", "App. A.3, Fig. 8",
       "SFT has a larger high-divergence set than RL",
       "every SFT pair has a larger share of positions with JS above stats.high than the DAPO pair, their 95% Wilson "
       "intervals apart; overlapping intervals are inconclusive", "shift_summary (pct_high)")
def _c11(x: Inputs) -> tuple[str, str]:
    rl = x.summary_row(x.dapo)
    if rl is None or not x.sft:
        return "—", NOT_RUN
    rl_ci = wilson(rl["pct_high"] / 100 * rl["n_positions"], rl["n_positions"])
    parts, text = [], [f"{x.dapo}: {rl['pct_high']:.2f}%"]
    for pair in x.sft:
        row = x.summary_row(pair)
        if row is None:
            parts.append(NOT_RUN)
            continue
        ci = wilson(row["pct_high"] / 100 * row["n_positions"], row["n_positions"])
        parts.append(REPRODUCED if ci[0] > rl_ci[1] else NOT_REPRODUCED if ci[1] < rl_ci[0] else INCONCLUSIVE)
        text.append(f"{pair}: {row['pct_high']:.2f}%")
    return "; ".join(text) + " of positions with high JS", combine(parts)


@claim("C12", "The weight-level change is smaller after RL than after SFT", "App. A.8, Table 6",
       "σ RL 0.00143 vs SFT 0.00347 (Qwen2.5-32B); 0.00136 vs 0.00944 (Math-7B)",
       "σ of the DAPO pair below σ of every SFT pair (a deterministic number: no interval)", "weight_gap")
def _c12(x: Inputs) -> tuple[str, str]:
    if x.weight_gap is None or not x.sft:
        return "—", NOT_RUN
    sigma = dict(zip(x.weight_gap["pair"], x.weight_gap["sigma"]))
    if x.dapo not in sigma or any(p not in sigma for p in x.sft):
        return "—", NOT_RUN
    text = "; ".join(f"{p}: {sigma[p]:.5f}" for p in [x.dapo, *x.sft])
    return text, REPRODUCED if all(sigma[x.dapo] < sigma[p] for p in x.sft) else NOT_REPRODUCED


@claim("C13", "Divergence-weighted advantages match or beat the DAPO baseline", "§4.4, Table 2",
       "overall Mean@32: baseline 42.48, low-KL 44.92, high-KL 45.05",
       "on the first dataset, no weighted variant lies below the baseline variant and at least one lies above it, "
       "where above / below means every seed's 95% CI clears every baseline seed's CI; all inside the noise is "
       "inconclusive", "training_variants")
def _c13(x: Inputs) -> tuple[str, str]:
    if x.variants is None or x.baseline_variant is None or not x.weighted_variants:
        return "—", NOT_RUN
    found = set(x.variants["variant"])
    names = [v for v in x.weighted_variants if v in found]
    if x.baseline_variant not in found or not names:
        return "—", NOT_RUN
    verdicts = {v: versus_baseline(x.variants, v, x.baseline_variant, x.dataset) for v in names}
    text = "; ".join(f"{v}: {verdict}" for v, verdict in verdicts.items())
    if "below" in verdicts.values():
        return text, NOT_REPRODUCED
    return text, REPRODUCED if "above" in verdicts.values() else INCONCLUSIVE


def scorecard(inputs: Inputs) -> pl.DataFrame:
    """Every registered claim, judged on ``inputs``, in claim order."""
    rows = []
    for name in sorted(CLAIMS.names(), key=lambda c: int(c[1:])):
        c = CLAIMS.get(name)
        this_run, verdict = c.judge(inputs)
        assert verdict in VERDICTS, verdict
        rows.append({"id": c.id, "claim": c.claim, "section": c.section, "paper": c.paper, "this_run": this_run,
                     "rule": c.rule, "decided_by": c.decided_by, "verdict": verdict})
    return pl.DataFrame(rows, schema={k: pl.String for k in COLUMNS})


def to_markdown(table: pl.DataFrame) -> str:
    counts = table["verdict"].value_counts()
    tally = ", ".join(f"{n} {v}" for v, n in sorted(zip(counts["verdict"], counts["count"]), key=lambda t: -t[1]))
    cols = ["id", "claim", "section", "paper", "this_run", "verdict", "rule"]
    return (markdown_table(["id", "claim", "section", "paper", "this run", "verdict", "rule"],
                           [[r[c] for c in cols] for r in table.iter_rows(named=True)]) + f"\n{tally}.\n")


def read_optional(path: str | Path | None) -> pl.DataFrame | None:
    """A CSV or Parquet table, or None when the run does not produce it."""
    if path is None:
        return None
    return pl.read_parquet(path) if str(path).endswith(".parquet") else pl.read_csv(path)
