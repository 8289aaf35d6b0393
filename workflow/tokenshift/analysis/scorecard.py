"""The reproduction scorecard: one row per claim of the paper, with this run's numbers, a verdict
and the line that says why.

Each claim is a :class:`Claim` in :data:`CLAIMS`: the paper's sentence it tests, its thresholds
(``numbers``: written once, the rule text is formatted from them and the judge reads them) and a
judge that implements exactly that rule. Verdicts:

- ``reproduced`` / ``not reproduced``: the run's numbers decide, beyond their uncertainty;
- ``inconclusive``: an interval straddles the threshold, a table holds empty or null values, or
  the precondition fails;
- ``not run``: the run lacks the data (the pair, stage or table is not configured).

The precondition of every claim about what RL changed (C1-C9, C11, C12): the pair's tuned model
is more accurate than its base beyond the noise (a paired bootstrap interval of the difference
over problems), and it moved, at :data:`MIN_HIGH` or more positions with JS above stats.high. A
pair that did not learn shows nothing about what learning changed: a copy of its base has 100%
near-zero JS, and any SFT pair shifts more than it.

Proportions over positions use Wilson intervals (Newcombe's for their differences), which treat
positions as independent and so err towards deciding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from tokenshift.analysis.inference import LEVEL, newcombe, paired_bootstrap, spearman, wilson
from tokenshift.files.markdown import markdown_table
from tokenshift.registry import Registry

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN = "reproduced", "not reproduced", "inconclusive", "not run"
VERDICTS = (REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE, NOT_RUN)
COLUMNS = ["id", "claim", "section", "this_run", "verdict", "why", "rule", "decided_by"]
MIN_HIGH = 30  # positions with JS above stats.high below which a pair counts as not moved
ROLES = ("dapo", "simplerl")
PRECONDITION = ("Precondition, else inconclusive: the pair's tuned model beats its base beyond the noise (a "
                "{level:.0%} paired bootstrap interval of the Mean@n difference, over problems, above 0) and has at "
                "least {min_high} positions with JS above stats.high.")
COMMON = {"level": LEVEL, "min_high": MIN_HIGH}


@dataclass
class Inputs:
    """What the claims read: the run's tables (None when not produced), the pairs' roles, and which
    models are each pair's base and tuned (``pair_models``) and each variant's seeds (``variant_models``)."""

    dataset: str
    dapo: str
    simplerl: str | None = None
    sft: list[str] = field(default_factory=list)
    weighted_variants: list[str] = field(default_factory=list)
    baseline_variant: str | None = None
    pair_models: dict[str, list[str]] = field(default_factory=dict)  # pair -> [base model, tuned model]
    variant_models: dict[str, list] = field(default_factory=dict)  # model -> [variant, seed]
    summary: pl.DataFrame | None = None
    position: pl.DataFrame | None = None
    entropy: pl.DataFrame | None = None
    targets: pl.DataFrame | None = None
    crosssampling: pl.DataFrame | None = None
    evolution: pl.DataFrame | None = None
    weight_gap: pl.DataFrame | None = None
    variants: pl.DataFrame | None = None
    scores: pl.DataFrame | None = None  # per sample on the judged dataset: model, problem_id, sample_idx, correct

    def role(self, name: str) -> str | None:
        return {"dapo": self.dapo, "simplerl": self.simplerl}[name]


@dataclass(frozen=True)
class Verdict:
    verdict: str
    why: str
    this_run: str = "—"


class Undecided(Exception):
    """Raised by a judge that cannot decide; the message says why."""

    verdict = INCONCLUSIVE


class NotRun(Undecided):
    verdict = NOT_RUN


def decide(judge: Callable[[], Verdict]) -> Verdict:
    """The judge's verdict, or the undecided one with its reason."""
    try:
        return judge()
    except Undecided as u:
        return Verdict(u.verdict, str(u))


def combine(parts: list[Verdict]) -> Verdict:
    """All parts must hold: a failure fails the claim, then missing data, then any undecided part."""
    for v in (NOT_REPRODUCED, NOT_RUN, INCONCLUSIVE, REPRODUCED):
        if any(p.verdict == v for p in parts):
            return Verdict(v, "; ".join(p.why for p in parts), "; ".join(p.this_run for p in parts))
    raise NotRun("nothing to judge")


def labelled(label: str, v: Verdict) -> Verdict:
    return Verdict(v.verdict, f"{label}: {v.why}", f"{label}: {v.this_run}")


def verdict_of(passed: bool, failed: bool) -> str:
    return REPRODUCED if passed else NOT_REPRODUCED if failed else INCONCLUSIVE


# --- reading the tables: an absent table is "not run", an empty or null value "inconclusive" ----------------


def need(table: pl.DataFrame | None, name: str) -> pl.DataFrame:
    if table is None:
        raise NotRun(f"the run has no {name} table (its stage is not configured)")
    return table


def rows(x: Inputs, table: pl.DataFrame | None, name: str, pair: str, **equal: Any) -> pl.DataFrame:
    """``table``'s rows of ``pair`` on the judged dataset (and the ``equal`` column values)."""
    keep = (pl.col("pair") == pair) & (pl.col("dataset") == x.dataset)
    for column, wanted in equal.items():
        keep &= pl.col(column) == wanted
    found = need(table, name).filter(keep)
    if found.is_empty():
        raise NotRun(f"{name} has no rows of {pair} on {x.dataset}" + "".join(f", {k} {v}" for k, v in equal.items()))
    return found


def value(row: Mapping[str, Any], column: str) -> float:
    """A numeric cell; missing, null or NaN cannot be judged."""
    v = row.get(column)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        raise Undecided(f"{column} is empty")
    return float(v)


def summary_row(x: Inputs, pair: str) -> dict[str, Any]:
    return rows(x, x.summary, "shift_summary", pair).row(0, named=True)


def per_problem(x: Inputs, models: list[str]) -> np.ndarray:
    """Accuracy [model, problem] of ``models`` over the problems all of them were scored on."""
    if x.scores is None:
        raise Undecided("the scorecard was given no per-problem scores")
    acc = (x.scores.filter(pl.col("model").is_in(models)).group_by("model", "problem_id")
           .agg(pl.col("correct").cast(pl.Float64).mean())
           .pivot(on="model", index="problem_id", values="correct").drop_nulls())
    missing = [m for m in models if m not in acc.columns]
    if missing or acc.is_empty():
        raise Undecided(f"no per-problem scores of {', '.join(missing or models)} on shared problems")
    return acc.sort("problem_id").select(models).to_numpy().T


# --- the precondition ----------------------------------------------------------------------------------------


def precondition(x: Inputs, pair: str) -> str:
    """What shows that ``pair`` learned and moved; raises Undecided with the reason when it did not."""
    n_high = int(value(summary_row(x, pair), "n_high"))
    if n_high < MIN_HIGH:
        raise Undecided(f"{pair} has {n_high} positions with JS above stats.high (fewer than {MIN_HIGH}): "
                        "it barely moved")
    if pair not in x.pair_models:
        raise Undecided(f"the scorecard was not told {pair}'s base and tuned models, so it cannot compare them")
    base, tuned = x.pair_models[pair]
    acc = per_problem(x, [tuned, base])
    gain = paired_bootstrap(acc[0], acc[1])
    text = f"{pair} gains {gain} over its base ({acc.shape[1]} problems)"
    if gain.low <= 0:
        raise Undecided(f"{text}: not beyond the noise, so nothing here shows what RL changed")
    return f"{text}, {n_high} positions with high JS"


def gated(x: Inputs, pair: str, v: Verdict) -> Verdict:
    """``v`` with the precondition's evidence, or inconclusive with its reason when ``pair`` fails it."""
    if v.verdict == NOT_RUN:
        return v
    try:
        moved = precondition(x, pair)
    except Undecided as u:
        return Verdict(INCONCLUSIVE, f"precondition not met: {u} (the rule alone: {v.verdict}, {v.why})", v.this_run)
    return Verdict(v.verdict, f"{moved}; {v.why}", v.this_run)


# --- claims --------------------------------------------------------------------------------------------------

Judge = Callable[[Inputs, str | None, Mapping[str, Any]], Verdict]


@dataclass(frozen=True)
class Claim:
    """One claim: ``roles`` are the pairs it is judged on, each behind the precondition (none: the
    claim is not about a pair); a ``numbers`` value keyed by role is that role's threshold."""

    id: str
    claim: str
    section: str
    quote: str
    test: str
    numbers: Mapping[str, Any]
    decided_by: str
    judge: Judge
    roles: tuple[str, ...] = ("dapo",)

    @property
    def rule(self) -> str:
        text = f"The paper: “{self.quote}” Judged: {self.test}"
        return (text + (" " + PRECONDITION if self.roles else "")).format(**self.numbers, **COMMON)

    def verdict(self, x: Inputs) -> Verdict:
        if not self.roles:
            return decide(partial(self.judge, x, None, self.numbers))
        parts = {}
        for role in self.roles:
            if (pair := x.role(role)) is None:
                continue
            numbers = {k: v[role] if isinstance(v, dict) else v for k, v in self.numbers.items()}
            parts[pair] = gated(x, pair, decide(partial(self.judge, x, pair, numbers)))
        return combine([labelled(p, v) for p, v in parts.items()] if len(parts) > 1 else list(parts.values()))


CLAIMS: Registry[Claim] = Registry("claim")


def claim(id: str, text: str, section: str, quote: str, test: str, decided_by: str,
          roles: tuple[str, ...] = ("dapo",), **numbers: Any) -> Callable[[Judge], Judge]:
    """Register the decorated judge (inputs, pair, numbers -> Verdict) as claim ``id``."""

    def add(judge: Judge) -> Judge:
        CLAIMS.register(id)(Claim(id, text, section, quote, test, numbers, decided_by, judge, roles))
        return judge

    return add


def versus(share: float, n: int, threshold: float, above: bool, what: str) -> Verdict:
    """"share > threshold" (``above``) or "share < threshold", shares in 0..1, by the Wilson interval."""
    lo, hi = wilson(share * n, n)
    passed, failed = (lo > threshold, hi < threshold) if above else (hi < threshold, lo > threshold)
    why = f"needs {'above' if above else 'below'} {threshold:.0%}; Wilson interval [{100 * lo:.1f}%, {100 * hi:.1f}%]"
    return Verdict(verdict_of(passed, failed), why, f"{100 * share:.1f}% of {n} {what}")


@claim("C1", "Most token positions have near-zero JS between base and RL model", "§2.2, Fig. 1",
       "Under DAPO, more than 83% of token positions exhibit near-zero divergence, while this proportion exceeds "
       "98% under SimpleRL",
       "the share of positions with JS below stats.near_zero lies above {share[dapo]:.0%} for the DAPO pair and "
       "above {share[simplerl]:.0%} for the SimpleRL pair (where configured), each beyond its {level:.0%} Wilson "
       "interval.", "shift_summary (pct_near_zero, n_positions)", ROLES, share={"dapo": 0.83, "simplerl": 0.98})
def _c1(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    row = summary_row(x, pair)
    return versus(value(row, "pct_near_zero") / 100, int(value(row, "n_positions")), n["share"], True,
                  "positions near zero")


@claim("C2", "Mean JS is highest at the start, lowest in the middle and rises again at the end", "§2.3, Fig. 2",
       "average divergence is consistently highest near the beginning of the response, decreases through the "
       "middle, and increases modestly again toward the end",
       "over the DAPO pair's position bins, the first bin's mean JS is above every other bin's, and the mean JS of "
       "the bins centred in [{middle[0]}, {middle[1]}] (weighted by positions) lies below the first's and the last "
       "bin's; fewer than {min_n} positions in the first or the last bin is inconclusive.", "stats/position_profile",
       middle=(0.3, 0.7), min_n=100)
def _c2(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    p = rows(x, x.position, "position_profile", pair).drop_nulls(["mean", "n"]).filter(pl.col("n") > 0).sort("bin")
    middle = p.filter(pl.col("center").is_between(*n["middle"]))
    if p.height < 3 or middle.is_empty():
        raise Undecided(f"{p.height} position bins with data, {middle.height} of them in the middle")
    first, last = p.row(0, named=True), p.row(p.height - 1, named=True)
    mid = float((middle["mean"] * middle["n"]).sum() / middle["n"].sum())
    text = f"start {first['mean']:.4f}, middle {mid:.4f}, end {last['mean']:.4f}"
    if min(first["n"], last["n"]) < n["min_n"]:
        raise Undecided(f"{text}; only {min(first['n'], last['n'])} positions in an end bin")
    failures = [f for f, ok in (("a later bin is at least as high as the start", first["mean"] > p["mean"][1:].max()),
                                ("the end is not above the middle", last["mean"] > mid)) if not ok]
    return Verdict(NOT_REPRODUCED if failures else REPRODUCED,
                   "; ".join(failures) or "the start is the highest bin, the middle below both ends", text)


@claim("C3", "Low-JS positions are mostly low-entropy; high-JS positions occur across entropies", "§2.4, Fig. 3",
       "low-divergence token distributions are largely low-entropy, indicating that distributions that are "
       "preserved are mostly initially low-entropy. High-divergence contexts, however, can span a broad entropy "
       "range.",
       "over the DAPO pair's base-model entropy histogram (stats.hist_bins bins up to the largest entropy), more "
       "than {low_share:.0%} of the low-JS positions lie in the lowest {lowest:.0%} of the range, and high-JS "
       "positions lie above it at least {ratio:g} times as often as low-JS ones.", "stats/entropy_by_divergence",
       lowest=0.1, low_share=0.5, ratio=2)
def _c3(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    e = rows(x, x.entropy, "entropy_by_divergence", pair, model="base").with_columns(pl.col("count").fill_null(0))
    cut = max(1, round((int(x.entropy["bin"].max()) + 1) * n["lowest"]))  # every pair shares the bin edges
    shares = {}
    for (label,), g in e.group_by("js_bin"):
        total = int(g["count"].sum())
        shares[label.split()[0]] = (float(g.filter(pl.col("bin") < cut)["count"].sum()) / total if total else None,
                                    total)
    (low_in, n_low), (high_in, n_high) = shares.get("low", (None, 0)), shares.get("high", (None, 0))
    if low_in is None or high_in is None:
        raise Undecided(f"{n_low} low-JS and {n_high} high-JS positions in the histogram")
    text = (f"lowest {n['lowest']:.0%} of entropy: {100 * low_in:.1f}% of {n_low} low-JS, "
            f"{100 * high_in:.1f}% of {n_high} high-JS positions")
    ok = low_in > n["low_share"] and (1 - high_in) >= n["ratio"] * (1 - low_in)
    return Verdict(REPRODUCED if ok else NOT_REPRODUCED, "both shares on their side" if ok else
                   "low-JS positions are not mostly low-entropy, or high-JS ones not spread wider", text)


def _crosssample(x: Inputs, pair: str, direction: str, max_eff: float) -> Verdict:
    """C4/C5: some budget above 0 reaches the target within tolerance with few effective switches, from a
    start (budget 0) that lies beyond the tolerance even at its CI's near edge."""
    targets = rows(x, x.targets, "crosssample_targets", pair, direction=direction)
    sweeps = rows(x, x.crosssampling, "crosssampling", pair, direction=direction, mode="targeted")
    sign, near_edge = (1, "ci_high") if direction == "forward" else (-1, "ci_low")  # forward climbs to the target
    tried = []  # (reached, effective %, how close to the target, line) of every budget above 0
    for t in targets.iter_rows(named=True):
        target, tol = value(t, "target_acc"), value(t, "tolerance")
        g = sweeps.filter(pl.col("eps") == t["eps"]).drop_nulls(["mean_at_n", "eff_pct"])
        start = g.filter(pl.col("budget") == 0)
        if start.is_empty():
            raise Undecided(f"eps {t['eps']:g}: no budget-0 run (the start)")
        s = start.row(0, named=True)
        if sign * (value(s, near_edge) - target) >= -tol:
            raise Undecided(f"eps {t['eps']:g}: the start {s['mean_at_n']:.3f} [{s['ci_low']:.3f}, "
                            f"{s['ci_high']:.3f}] is within {tol:g} of the target {target:.3f}: nothing to reach")
        for r in g.filter(pl.col("budget") > 0).iter_rows(named=True):
            closeness = sign * (r["mean_at_n"] - target)
            tried.append((closeness >= -tol, r["eff_pct"], closeness,
                          f"eps {t['eps']:g}, budget {r['budget']}: {s['mean_at_n']:.3f} -> {r['mean_at_n']:.3f} "
                          f"(target {target:.3f} ± {tol:g}) with {r['eff_pct']:.2f}% effective switches"))
    if not tried:
        raise Undecided("no budget above 0 in the sweeps")
    reached = sorted((eff, line) for ok, eff, _, line in tried if ok)
    if reached and reached[0][0] < max_eff:
        return Verdict(REPRODUCED, f"reached with less than {max_eff:g}% effective switches", reached[0][1])
    if reached:
        return Verdict(NOT_REPRODUCED, f"reached only with {reached[0][0]:.2f}% effective switches", reached[0][1])
    return Verdict(NOT_REPRODUCED, "no budget above 0 reaches the target", max(tried, key=lambda t: t[2])[3])


@claim("C4", "Forward cross-sampling recovers the RL model's accuracy with few switched tokens", "§3.2, Table 1",
       "A small fraction of RL tokens suffices to recover RL-level performance in the base model.",
       "in a forward sweep of the DAPO pair, the base alone (budget 0) lies below the tuned model's Mean@n minus "
       "crosssample.tolerance, its {level:.0%} CI included, and some budget above 0 reaches that Mean@n within the "
       "tolerance with less than {max_eff:g}% effective switches (Table 1's DAPO rows lie below it).",
       "crosssample_targets (target, tolerance), crosssampling (every budget)", max_eff=10.0)
def _c4(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    return _crosssample(x, pair, "forward", n["max_eff"])


@claim("C5", "Reverse cross-sampling collapses the RL model to base accuracy with few switched tokens",
       "§3.2, Table 1",
       "Reverting a small portion of RL tokens collapses performance to base levels with the RL model.",
       "in a reverse sweep of the DAPO pair, the tuned model alone (budget 0) lies above the base model's Mean@n plus "
       "crosssample.tolerance, its {level:.0%} CI included, and some budget above 0 reaches that Mean@n within the "
       "tolerance with less than {max_eff:g}% effective switches (Table 1's DAPO rows lie below it).",
       "crosssample_targets (target, tolerance), crosssampling (every budget)", max_eff=11.0)
def _c5(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    return _crosssample(x, pair, "reverse", n["max_eff"])


def _random_vs_targeted(c: pl.DataFrame, eps: float, tol: float) -> Verdict:
    """C6 at one threshold, at the random run's largest budget."""
    c = c.filter(pl.col("eps") == eps)
    top = c.filter(pl.col("mode") == "random")["budget"].max()
    at = {(r["mode"], r["budget"]): r for r in c.iter_rows(named=True)}
    if ("targeted", top) not in at or ("targeted", 0) not in at:
        raise Undecided(f"eps {eps:g}: no targeted run at budget {top} or 0 beside the random one")
    run = {name: [value(at[key], k) for k in ("mean_at_n", "ci_low", "ci_high")]
           for name, key in (("start", ("targeted", 0)), ("random", ("random", top)), ("targeted", ("targeted", top)))}
    (s, s_lo, s_hi), (r, r_lo, r_hi), (_, t_lo, t_hi) = run.values()
    text = f"eps {eps:g}, budget {top}: " + ", ".join(f"{k} {m:.3f} [{lo:.3f}, {hi:.3f}]"
                                                      for k, (m, lo, hi) in run.items())
    if abs(r - s) > tol and (r_lo > s_hi or r_hi < s_lo):
        return Verdict(NOT_REPRODUCED, f"random switching moves the start by {r - s:+.3f}, beyond tolerance and CI",
                       text)
    verdict = verdict_of(r_hi < t_lo, r_lo > t_hi)
    return Verdict(verdict, {REPRODUCED: "random stays near the start, below the targeted run",
                             NOT_REPRODUCED: "random lies above the targeted run",
                             INCONCLUSIVE: "random and targeted CIs overlap"}[verdict], text)


@claim("C6", "Switching at random positions, at the same rate, gains little", "App. A.5, Fig. 45",
       "The random baseline shows minimal performance improvement, demonstrating that targeted RL token selection "
       "is critical for performance gains.",
       "for each threshold of the DAPO pair's forward sweep that has a random baseline, at its largest budget, the "
       "random run stays near the base alone (budget 0: within crosssample.tolerance, or their {level:.0%} CIs "
       "overlap) and its CI lies wholly below the targeted run's; overlapping random and targeted CIs are "
       "inconclusive.", "crosssampling (mode random vs targeted), crosssample_targets (tolerance)")
def _c6(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    c = rows(x, x.crosssampling, "crosssampling", pair, direction="forward")
    targets = rows(x, x.targets, "crosssample_targets", pair, direction="forward")
    eps_random = c.filter(pl.col("mode") == "random")["eps"].unique().sort().to_list()
    if not eps_random:
        raise NotRun("no random baseline (crosssample.random_baseline)")
    tol = value(targets.row(0, named=True), "tolerance")
    return combine([decide(partial(_random_vs_targeted, c, e, tol)) for e in eps_random])


def _at_high(x: Inputs, pair: str, share: float, threshold: float, above: bool) -> Verdict:
    """A share over the pair's positions with JS above stats.high against ``threshold``."""
    return versus(share, int(value(summary_row(x, pair), "n_high")), threshold, above, "high-JS positions")


@claim("C7", "At high-JS positions, base and RL top-k sets overlap heavily for k >= 2", "§4.1, Fig. 7",
       "SimpleRL exhibits over 80% average overlap (often exceeding 85%), while DAPO shows slightly lower but still "
       "substantial overlap.",
       "the mean top-k overlap (|intersection| / k, averaged over k in {ks}) at JS above stats.high lies above "
       "{share[simplerl]:.0%} for the SimpleRL pair and above {share[dapo]:.0%} for the DAPO pair (this scorecard's "
       "reading of \"slightly lower\"; the paper states no number), each beyond its {level:.0%} Wilson interval.",
       "shift_summary (overlap_at_k, n_high)", ROLES, ks=(2, 3, 5, 10), share={"dapo": 0.70, "simplerl": 0.80})
def _c7(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    row = summary_row(x, pair)
    mean = sum(value(row, f"overlap_at_{k}") for k in n["ks"]) / len(n["ks"])
    return _at_high(x, pair, mean, n["share"], True)


@claim("C8", "The RL model's new top-1 was usually already in the base model's top 3", "§4.1, Fig. 17",
       "over 80% (DAPO) and 90% (SimpleRL) fall within the base top-3",
       "the share of positions with JS above stats.high whose tuned top-1 token is in the base top 3 lies above "
       "{share[dapo]:.0%} for the DAPO pair and above {share[simplerl]:.0%} for the SimpleRL pair, each beyond its "
       "{level:.0%} Wilson interval.", "shift_summary (pct_top1_in_base_top3, n_high)", ROLES,
       share={"dapo": 0.80, "simplerl": 0.90})
def _c8(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    return _at_high(x, pair, value(summary_row(x, pair), "pct_top1_in_base_top3") / 100, n["share"], True)


@claim("C9", "Few RL top-1 tokens were improbable under the base model", "§4.2, Fig. 18, 20",
       "under DAPO, only about 5% of divergent top-1 tokens have base probability below 0.01, while under SimpleRL "
       "this fraction is nearly zero",
       "the share of positions with JS above stats.high whose tuned top-1 token has base probability below "
       "{prob:g} lies below {share[dapo]:.0%} for the DAPO pair (\"about 5%\") and below {share[simplerl]:.0%} for "
       "the SimpleRL pair (\"nearly zero\"), each beyond its {level:.0%} Wilson interval; both thresholds are this "
       "scorecard's reading of the paper's words.", "shift_summary (pct_tail_below_<prob>, n_high)", ROLES,
       prob=0.01, share={"dapo": 0.10, "simplerl": 0.02})
def _c9(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    share = value(summary_row(x, pair), f"pct_tail_below_{n['prob']:g}") / 100
    return _at_high(x, pair, share, n["share"], False)


@claim("C10", "JS grows over RL training, its upper percentiles fastest", "§4.3, Fig. 29",
       "JS divergence increases monotonically throughout training, with higher percentiles (e.g., 95th and 99th) "
       "growing faster than lower ones. […] the Jaccard overlap between each checkpoint's divergent-token set and "
       "the final set increases gradually before rising sharply near the end of training",
       "over all saved checkpoints (at least {checkpoints}), the upper JS percentiles {upper} each rise with the step "
       "(Spearman ρ at least {rho:g}; a percentile that is 0 throughout does not rise) with a least-squares slope "
       "above the median's (p{median}), and the Jaccard overlap of each checkpoint's high-JS set with the final "
       "one rises (ρ at least {rho:g}).", "training_evolution (js_p*, jaccard_final)", (),
       checkpoints=3, upper=(95, 99), median=50, rho=0.8)
def _c10(x: Inputs, pair: None, n: Mapping[str, Any]) -> Verdict:
    median, *upper = [f"js_p{q}" for q in (n["median"], *n["upper"])]
    columns = [median, *upper, "jaccard_final"]
    e = need(x.evolution, "training_evolution").filter(pl.col("dataset") == x.dataset).sort("step")
    if missing := [c for c in columns if c not in e.columns]:
        raise Undecided(f"training_evolution lacks {', '.join(missing)}")
    e = e.with_columns(pl.col(columns).cast(pl.Float64, strict=False).fill_nan(None))
    if e.height < n["checkpoints"]:
        raise Undecided(f"{e.height} checkpoints: a trend needs at least {n['checkpoints']}")
    if e.select(pl.any_horizontal(pl.col(columns).is_null().any())).item():
        raise Undecided("a JS percentile or the Jaccard overlap is empty at some checkpoint (the final model has no "
                        "high-JS positions?)")
    steps = e["step"].to_numpy().astype(np.float64)
    rho = {c: spearman(steps, e[c].to_numpy()) for c in columns}
    slope = {c: float(np.polyfit(steps, e[c].to_numpy(), 1)[0]) for c in columns}
    zero = {c: bool((e[c] == 0).all()) for c in columns}
    failures = [f"{c} is 0 throughout" if zero[c] else f"{c} does not rise (ρ {rho[c]:.2f})"
                for c in upper if zero[c] or not rho[c] >= n["rho"]]
    failures += [f"{c} grows no faster than {median}" for c in upper if not slope[c] > slope[median]]
    if not rho["jaccard_final"] >= n["rho"]:
        failures.append(f"the Jaccard overlap with the final high-JS set does not rise (ρ {rho['jaccard_final']:.2f})")
    text = f"{e.height} checkpoints, steps {int(steps[0])}-{int(steps[-1])}: " + ", ".join(
        f"{c} 0 throughout" if zero[c] else f"{c} ρ {rho[c]:.2f}, slope {slope[c]:.2g}" for c in columns)
    return Verdict(NOT_REPRODUCED if failures else REPRODUCED, "; ".join(failures) or
                   "the upper percentiles rise fastest and the high-JS set converges to the final one", text)


def _sft_versus_rl(x: Inputs, rl: dict[str, Any], sft: str) -> Verdict:
    row = summary_row(x, sft)
    counts = [(value(r, "pct_high") / 100 * value(r, "n_positions"), int(value(r, "n_positions"))) for r in (row, rl)]
    d = newcombe(*counts[0], *counts[1])
    text = f"{sft} {row['pct_high']:.2f}% vs {rl['pair']} {rl['pct_high']:.2f}%"
    return Verdict(verdict_of(d.low > 0, d.high < 0), f"Newcombe interval of the difference {d}", text)


@claim("C11", "SFT shifts more positions than RL", "§2.6, App. A.3, Fig. 8",
       "SFT exhibits a substantially larger high-divergence set and a broader divergence distribution than RLVR "
       "(Figure 8)",
       "for every SFT pair, the {level:.0%} Newcombe interval of its share of positions with JS above stats.high "
       "minus the DAPO pair's lies above 0; below 0 is not reproduced, straddling 0 inconclusive.",
       "shift_summary (pct_high, n_positions)")
def _c11(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    if not x.sft:
        raise NotRun("no SFT pairs (scorecard.sft)")
    rl = summary_row(x, pair)
    return combine([decide(partial(_sft_versus_rl, x, rl, s)) for s in x.sft])


@claim("C12", "The weight-level change is smaller after RL than after SFT", "App. A.8, Table 6",
       "the σ values corresponding to RL fine-tuning are substantially lower than those from SFT",
       "σ of the DAPO pair lies below σ of every SFT pair (a deterministic number: no interval).", "weight_gap")
def _c12(x: Inputs, pair: str, n: Mapping[str, Any]) -> Verdict:
    if not x.sft:
        raise NotRun("no SFT pairs (scorecard.sft)")
    gap = {r["pair"]: r for r in need(x.weight_gap, "weight_gap").iter_rows(named=True)}
    if missing := [p for p in (pair, *x.sft) if p not in gap]:
        raise NotRun(f"weight_gap has no row of {', '.join(missing)}")
    sigma = {p: value(gap[p], "sigma") for p in (pair, *x.sft)}
    above = [p for p in x.sft if not sigma[pair] < sigma[p]]
    return Verdict(NOT_REPRODUCED if above else REPRODUCED,
                   f"σ of {pair} is not below {', '.join(above)}'s" if above else f"σ of {pair} is the smallest",
                   "; ".join(f"{p}: {sigma[p]:.5f}" for p in sigma))


def _variant_gain(x: Inputs, variant: str, baseline: str) -> Verdict:
    """One weighted variant against the baseline: paired over problems, resampling each one's seeds."""
    seeds = {v: [m for m, (name, _) in x.variant_models.items() if name == v] for v in (variant, baseline)}
    if not seeds[variant] or not seeds[baseline]:
        raise Undecided(f"the scorecard was not told the models of {variant} or {baseline}")
    acc = per_problem(x, seeds[variant] + seeds[baseline])
    d = paired_bootstrap(acc[:len(seeds[variant])], acc[len(seeds[variant]):])
    text = f"{variant} {d} ({len(seeds[variant])} vs {len(seeds[baseline])} seeds, {acc.shape[1]} problems)"
    return Verdict(verdict_of(d.low > 0, d.high < 0), "paired bootstrap interval of the difference", text)


@claim("C13", "Divergence-weighted advantages improve on the DAPO baseline", "App. A.1.2, Table 2",
       "Both low-KL and high-KL boost configurations yield improvements over the baseline",
       "on the first dataset, every weighted variant's Mean@n minus the baseline variant's has a {level:.0%} paired "
       "bootstrap interval (problems drawn jointly for both, seeds within each) above 0; any interval below 0 is not "
       "reproduced, any straddling 0 inconclusive.", "training_variants, per-problem scores of the variant models", ())
def _c13(x: Inputs, pair: None, n: Mapping[str, Any]) -> Verdict:
    found = set(need(x.variants, "training_variants")["variant"])
    names = [v for v in x.weighted_variants if v in found]
    if x.baseline_variant not in found or not names:
        raise NotRun("training_variants lacks the baseline or every weighted variant")
    return combine([decide(partial(_variant_gain, x, v, x.baseline_variant)) for v in names])


# --- the table -----------------------------------------------------------------------------------------------


def scorecard(inputs: Inputs) -> pl.DataFrame:
    """Every registered claim, judged on ``inputs``, in claim order."""
    table = []
    for name in sorted(CLAIMS.names(), key=lambda c: int(c[1:])):
        c = CLAIMS.get(name)
        v = c.verdict(inputs)
        assert v.verdict in VERDICTS, v
        table.append({"id": c.id, "claim": c.claim, "section": c.section, "this_run": v.this_run,
                      "verdict": v.verdict, "why": v.why, "rule": c.rule, "decided_by": c.decided_by})
    return pl.DataFrame(table, schema={k: pl.String for k in COLUMNS})


def to_markdown(table: pl.DataFrame) -> str:
    counts = table["verdict"].value_counts()
    tally = ", ".join(f"{n} {v}" for v, n in sorted(zip(counts["verdict"], counts["count"]), key=lambda t: -t[1]))
    cols = ["id", "claim", "section", "this_run", "verdict", "why", "rule"]
    body = [[r[c] for c in cols] for r in table.iter_rows(named=True)]
    return markdown_table([c.replace("_", " ") for c in cols], body) + f"\n{tally}.\n"


def read_optional(path: str | Path | None) -> pl.DataFrame | None:
    """A CSV or Parquet table, or None when the run does not produce it."""
    if path is None:
        return None
    return pl.read_parquet(path) if str(path).endswith(".parquet") else pl.read_csv(path)


def read_scores(models: list[str], paths: list[str | Path]) -> pl.DataFrame | None:
    """Per-sample correctness of ``models`` (one scores file each, in the same order) tagged with the model;
    None without any file."""
    if not paths:
        return None
    return pl.concat([pl.read_parquet(path, columns=["problem_id", "sample_idx", "correct"]).with_columns(
        model=pl.lit(model)) for model, path in zip(models, paths, strict=True)])
