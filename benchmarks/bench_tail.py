"""A sweep's wall time with the tail decoded by the HF engine and by vLLM, measured in the same run.

Record ``crosssample_tail_vllm_vs_hf``: one targeted sweep (the config's first threshold, every budget) of
a pair, first with ``crosssample.tail: hf``, then with ``tail: vllm`` (the budget phase on the HF engine,
then vLLM decodes every handed-over row); ``speedup`` = HF seconds ÷ (budget phase + tail seconds),
``speedup_with_startup`` counts vLLM's engine start-up too (a rule pays it once per sweep). It also
checks what must hold: ``prefix_mismatches`` counts rows whose tokens up to their handover differ
from the HF sweep's (must be 0); ``tail_share`` is the share of the HF sweep's tokens after the
handovers (tables/crosssampling.csv's column), ``handed_over`` the rows vLLM finished. Needs vLLM
(``make vllm``); by default the SmolLM2 pair of config/smollm2.yaml (``make bench-smollm2`` builds it)::

    python -m benchmarks.bench_tail [--config config/smollm2.yaml] [--primary DIR] [--intervention DIR]
        [--dataset PARQUET]
"""

from __future__ import annotations

import argparse
import time

import polars as pl
import yaml
from tokenshift.crosssample import CrossSpec
from tokenshift.crosssample.run import select_problems, sweep_dataset
from tokenshift.crosssample.tables import tail_share
from tokenshift.crosssample.tail import complete_tails
from tokenshift.data.datasets import read_dataset
from tokenshift.generation.sampler import SamplingParams, encode_prompt
from tokenshift.generation.vllm_backend import VllmOptions, start_engine
from tokenshift.models.loading import load_tokenizer
from tokenshift.pipeline.config import resolve_config, validate_config

from benchmarks.records import emit

SMOL = "results/smollm2"


def prefix_mismatches(hf: pl.DataFrame, two: pl.DataFrame) -> int:
    """Rows of the two-phase sweep whose tokens up to the handover (all of them, for rows the HF engine
    finished) differ from the HF sweep's, or whose switch counts differ."""
    keys = ["budget", "problem_id", "sample_idx"]
    j = two.join(hf, on=keys, suffix="_hf")
    bad = 0
    for r in j.iter_rows(named=True):
        n = r["handover"] if r["tail"] == "vllm" else len(r["response_ids_hf"]) + 1
        bad += (r["response_ids"][:n] != r["response_ids_hf"][:n] or r["n_switches"] != r["n_switches_hf"]
                or r["n_effective"] != r["n_effective_hf"])
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/smollm2.yaml")
    ap.add_argument("--primary", default=f"{SMOL}/models/converted/base")
    ap.add_argument("--intervention", default=f"{SMOL}/models/rl")
    ap.add_argument("--dataset", default=f"{SMOL}/data/eval.parquet")
    args = ap.parse_args()
    cfg = yaml.safe_load(open(args.config))
    resolve_config(validate_config(cfg))
    cs, s = cfg["crosssample"], cfg["sampling"]
    params = SamplingParams(cfg["seed"], s["temperature"], s["top_p"], s["max_new_tokens"])

    def spec(tail: str) -> CrossSpec:
        return CrossSpec(cs["eps"][0], tuple(cs["budgets"]), params, engine=cs["engine"], rule=cs["rule"],
                         noise=cs["noise"], chunk=cs["chunk"], chunk_size=cs["chunk_size"], max_chunk=cs["max_chunk"],
                         n_samples=cs["n_samples"], batch_size=cs["batch_size"], limit=cs["limit"], dtype=s["dtype"],
                         device="cpu", tail=tail)

    data = read_dataset(args.dataset)
    t0 = time.perf_counter()
    hf, _, _ = sweep_dataset(args.primary, args.intervention, data, spec("hf"))
    t1 = time.perf_counter()
    rows, _, _ = sweep_dataset(args.primary, args.intervention, data, spec("vllm"))
    t2 = time.perf_counter()
    llm = start_engine(args.primary, params.seed, s["dtype"], "cpu", VllmOptions(**s["vllm"]))
    t3 = time.perf_counter()
    tok = load_tokenizer(args.primary)
    prompts = select_problems(data, cs["limit"])
    ids = {p: encode_prompt(tok, t) for p, t in zip(prompts["problem_id"].to_list(), prompts["prompt"].to_list())}
    two = complete_tails(llm, tok, rows, ids, params)
    t4 = time.perf_counter()
    hf_s, phase_s, start_s, tail_s = t1 - t0, t2 - t1, t3 - t2, t4 - t3
    emit([{
        "name": "crosssample_tail_vllm_vs_hf", "config": args.config, "eps": cs["eps"][0], "budgets": cs["budgets"],
        "rows": hf.height, "hf_s": round(hf_s, 2), "budget_phase_s": round(phase_s, 2),
        "vllm_startup_s": round(start_s, 2), "tail_s": round(tail_s, 2),
        "speedup": round(hf_s / (phase_s + tail_s), 3),
        "speedup_with_startup": round(hf_s / (phase_s + start_s + tail_s), 3),
        "tail_share": round(tail_share(hf["length"], hf["handover"]), 4),
        "handed_over": int((rows["tail"] == "vllm").sum()), "prefix_mismatches": prefix_mismatches(hf, two),
        "hf_tokens": int(hf["length"].sum()), "two_phase_tokens": int(two["length"].sum()),
    }], "tail")


if __name__ == "__main__":
    main()
