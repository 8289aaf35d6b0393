"""Handover and tail share: where a response's budget runs out, and the share of tokens after it.

The tail (everything after the handover) is plain sampling by the primary, which a faster
engine could decode; these tests check the hand-computed arithmetic and, on a real sweep of
two tiny models, that the tail really is the primary alone.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import polars as pl
import pytest
from conftest import ROOT, handover_from_switches
from tokenshift.crosssample import CrossSpec, cross_sample_batch, sweep_batch
from tokenshift.crosssample.run import RESPONSE_SCHEMA
from tokenshift.crosssample.tables import TABLE_COLUMNS, summarize, tail_share
from tokenshift.generation.sampler import SamplingParams

KEYS = {"pair": "rl", "dataset": "eval", "direction": "forward", "mode": "targeted", "eps": 0.05}


def _switches(rows: dict[tuple[int, int], list[tuple[int, bool]]]) -> pl.DataFrame:
    """The largest budget's switches table from {(problem, sample): [(position, effective), ...]}."""
    recs = [{"problem_id": p, "sample_idx": s, "switch_index": j, "position": pos, "effective": eff}
            for (p, s), sws in rows.items() for j, (pos, eff) in enumerate(sws)]
    schema = {"problem_id": pl.Int64, "sample_idx": pl.Int64, "switch_index": pl.Int64, "position": pl.Int64,
              "effective": pl.Boolean}
    return pl.DataFrame(recs, schema=schema)


def _responses(recs: list[tuple[int, int, int, int, int, int]]) -> pl.DataFrame:
    """Rows (budget, problem, sample, length, n_switches, n_effective), all correct."""
    cols = ["budget", "problem_id", "sample_idx", "length", "n_switches", "n_effective"]
    return pl.DataFrame(recs, schema=dict.fromkeys(cols, pl.Int64), orient="row").with_columns(
        pl.lit(True).alias("correct"))


# Problem 0 switched at 3, 7 (an identity swap: it still uses up budget) and 10 in the largest run;
# problem 1 once, at 5. A response at budget b shares the largest run's first b switches.
SWITCHES = _switches({(0, 0): [(3, True), (7, False), (10, True)], (1, 0): [(5, True)]})
RESPONSES = _responses([
    (0, 0, 0, 20, 0, 0), (0, 1, 0, 10, 0, 0),
    (1, 0, 0, 18, 1, 1), (1, 1, 0, 10, 1, 1),
    (2, 0, 0, 16, 2, 1), (2, 1, 0, 10, 1, 1),
    (4, 0, 0, 15, 3, 2), (4, 1, 0, 10, 1, 1),
])


def test_handover_by_hand():
    out = handover_from_switches(RESPONSES, SWITCHES)
    assert out.columns == [*RESPONSES.columns, "handover"] and out.height == RESPONSES.height
    assert out["handover"].to_list() == [
        0, 0,  # budget 0: the primary from the start
        4, 6,  # after the first switch
        8, 10,  # problem 0: after its second switch, an identity swap; problem 1 never spends 2
        15, 10,  # neither spends 4: no tail
    ]


def test_tail_share_by_hand():
    t = summarize(handover_from_switches(RESPONSES, SWITCHES), KEYS, 50, 0)
    assert t.columns == TABLE_COLUMNS and TABLE_COLUMNS[-1] == "tail_share"
    assert t["tail_share"].to_list() == pytest.approx([1.0, (14 + 4) / 28, (8 + 0) / 26, 0.0])


def _random_sweep(rng: random.Random, budgets: list[int], n_rows: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A consistent (responses, switches) pair: per row a natural switch count, sorted positions, lengths."""
    sw, resp = {}, []
    for r in range(n_rows):
        n = rng.randint(0, 12)
        positions = sorted(rng.sample(range(60), n))
        sw[(r, 0)] = [(pos, rng.random() < 0.6) for pos in positions]
        for b in budgets:
            used = sw[(r, 0)][:b]
            end = positions[b - 1] + 1 if b and n >= b else 0  # a response is at least its switched prefix
            resp.append((b, r, 0, rng.randint(max(end, 1), 80), len(used), sum(e for _, e in used)))
    return _responses(resp), _switches(sw)


@pytest.mark.parametrize("seed", range(20))
def test_tail_share_is_a_share_and_all_of_it_at_budget_zero(seed):
    rng = random.Random(seed)
    budgets = [0, 1, 2, 4, 8, 16]
    resp, sw = _random_sweep(rng, budgets, rng.randint(1, 9))
    out = handover_from_switches(resp, sw)
    assert ((out["handover"] >= 0) & (out["handover"] <= out["length"])).all()
    t = summarize(out, KEYS, 20, 0)
    assert ((t["tail_share"] >= 0) & (t["tail_share"] <= 1)).all()
    assert t.filter(pl.col("budget") == 0)["tail_share"].item() == 1.0
    assert t.filter(pl.col("budget") == 16)["tail_share"].item() == 0.0  # nobody switches 16 times here


def test_tail_share_of_no_tokens():
    assert tail_share(pl.Series([], dtype=pl.Int64), pl.Series([], dtype=pl.Int64)) == 0.0


# --- on a real sweep: the tail is the primary alone --------------------------------------------

BUDGETS = (0, 1, 2, 4, 64)


@pytest.fixture(scope="module")
def sweep(tiny_batch):
    """A sweep of the tiny pair (float64), as tables."""
    tok, prim, inter, ids, pid, sid = tiny_batch
    spec = CrossSpec(0.012, BUDGETS, SamplingParams(seed=7, temperature=1.0, top_p=1.0, max_new_tokens=32),
                     chunk="adaptive")
    per_budget, _ = sweep_batch(prim, inter, len(tok), ids, pid, sid, spec, tok.eos_token_id, tok.pad_token_id)
    resp = _responses([(b, int(pid[r]), int(sid[r]), len(res.response_ids), res.n_switches, res.n_effective)
                       for b, results in per_budget.items() for r, res in enumerate(results)])
    sw = _switches({(int(pid[r]), int(sid[r])): [(s.position, s.effective) for s in res.switches]
                    for r, res in enumerate(per_budget[BUDGETS[-1]])})
    return handover_from_switches(resp, sw), per_budget, (tok, prim, inter, ids, pid, sid, spec)


def test_a_real_sweep_hands_over_where_its_budget_runs_out(sweep):
    out, per_budget, _ = sweep
    assert out.filter((pl.col("budget") > 0) & (pl.col("handover") < pl.col("length"))).height > 0  # tails exist
    for r in out.iter_rows(named=True):
        res = per_budget[r["budget"]][r["problem_id"] * 2 + r["sample_idx"]]
        assert all(s.position < r["handover"] for s in res.switches)  # every switch before the handover
        if r["budget"] and r["n_switches"] == r["budget"]:
            assert res.switches[-1].position + 1 == r["handover"]


def test_the_tail_is_plain_sampling_by_the_primary(sweep):
    """Decoding each response's tail with the primary alone (budget 0, from the handover) gives it back."""
    out, per_budget, (tok, prim, inter, ids, pid, sid, spec) = sweep
    tails = out.filter((pl.col("budget") > 0) & (pl.col("handover") < pl.col("length")))
    rows = [r["problem_id"] * 2 + r["sample_idx"] for r in tails.iter_rows(named=True)]
    prefixes = [per_budget[b][i].response_ids[:h] for b, i, h in zip(tails["budget"], rows, tails["handover"])]
    plain, _ = cross_sample_batch(prim, inter, len(tok), [ids[i] for i in rows], pid[rows], sid[rows], spec,
                                  tok.eos_token_id, tok.pad_token_id, budget=0, prefixes=prefixes)
    for b, i, res in zip(tails["budget"], rows, plain):
        assert res.response_ids == per_budget[b][i].response_ids


# --- the rule script: the column reaches tables/crosssampling.csv -----------------------------

RUNNER = """
import json, runpy, sys

class NS:
    def __init__(self, **kw):
        self.__dict__.update(kw)
    def items(self):
        return self.__dict__.items()

spec = json.load(open(sys.argv[1]))
inputs = NS(responses=spec["responses"])
smk = NS(rule="crosssample_table", threads=1, wildcards=NS(), log=[], input=inputs,
         params=NS(runs=spec["runs"], n_boot=20, seed=0), output=NS(table=spec["table"]))
runpy.run_path(spec["script"], init_globals={"snakemake": smk}, run_name="__main__")
"""


def test_rule_script_writes_the_tail_share(tmp_path):
    runs, responses = [], []
    for direction in ("forward", "reverse"):
        sweep = tmp_path / f"eval/{direction}/eps0.05/targeted"
        sweep.parent.mkdir(parents=True)
        # As the sweep writes them: every column (tokens and text too, the handover per row), then `correct`.
        resp = handover_from_switches(RESPONSES, SWITCHES).with_columns(
            pl.lit([1, 2]).alias("response_ids"), pl.lit("x").alias("response_text"),
            pl.lit("stop").alias("finish_reason"), pl.lit("hf").alias("tail"))
        resp.select(*RESPONSE_SCHEMA, "correct").write_parquet(f"{sweep}.parquet")
        runs.append({**KEYS, "direction": direction})
        responses.append(f"{sweep}.parquet")
    spec = {"script": str(ROOT / "workflow/scripts/crosssample_table.py"), "runs": runs, "responses": responses,
            "table": str(tmp_path / "crosssampling.csv")}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "runner.py").write_text(RUNNER)
    proc = subprocess.run([sys.executable, str(tmp_path / "runner.py"), str(tmp_path / "spec.json")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    t = pl.read_csv(tmp_path / "crosssampling.csv")
    assert t.columns == TABLE_COLUMNS and t.height == 8
    for _, g in t.group_by("direction"):
        assert g.sort("budget")["tail_share"].to_list() == pytest.approx([1.0, 18 / 28, 8 / 26, 0.0])
