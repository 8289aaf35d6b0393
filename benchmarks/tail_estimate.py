"""Expected tail share and wall time of a config's cross-sampling sweeps, from the paper's Table 3.

    .venv/bin/python -m benchmarks.tail_estimate [--config config/paper/qwen2.5-32b.yaml]
        [--hf-rate 200] [--vllm-rate 3000] [--shards 32]

An estimate, not a measurement (no model runs): it sizes ``jobs.crosssample`` before a run,
and tables/crosssampling.csv's ``tail_share`` column measures the same quantity afterwards.

Model (docs/cross-sampling.md, "Tail share"):
- a sweep's responses have length ``L`` and ``n`` natural switches (identity swaps included),
  read from the paper's Table 3 for the pair, dataset and direction: ``n`` = "# tokens",
  ``L`` = n / "% tokens" (at most max_new_tokens); a dataset without a row there (GPQA-Diamond)
  takes the mean of the pair and direction's rows; the random baseline, whose rate is the
  targeted run's, takes the targeted sweep's;
- the ``n`` switches lie uniformly spread over the response, so the k-th is at L k / (n + 1):
  at budget k the tail share is 1 at k = 0, 1 - k / (n + 1) for k <= n, 0 for k > n;
- tokens a sweep decodes, with shared prefixes: one run at the largest budget (two models)
  plus, for every smaller budget b < n, a primary-only fork from the (b+1)-th switch, of
  L (1 - (b + 1) / (n + 1)) tokens per response. Without sharing (each budget run alone):
  L tokens per response and budget;
- rates per job (one H100 per model, batch ``crosssample.batch_size``), assumptions: the HF
  engine decodes the primary alone at ``--hf-rate`` tokens/s; cross-sampling reaches the
  fraction (1 - (1 - s)^g) / s / (g + 1) of it (the adaptive chunk policy's accepted tokens per
  sequential pass, at the effective-switch rate s = Table 3's "Eff. %"); a plain sampling
  engine (vLLM) decodes the tails at ``--vllm-rate`` tokens/s.
Prints one JSON record per sweep and a summary record: ``tail_share`` pooled over every budget's
responses (tables/crosssampling.csv's definition), ``fork_share`` the share of the tokens a
sweep decodes with shared prefixes that are primary-only forks, job hours, and the sizing: ``--shards`` per sweep
and the runtime (minutes, whole hours) of a shard of the largest sweep if every response of it
ran to max_new_tokens (decoded tokens scale with L, so this bounds the length estimate's error;
the rates stay assumptions).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import yaml
from tokenshift.pipeline.config import resolve_config, validate_config

# Paper Table 3 (Qwen2.5-32B, 8000-token budget): (all switches per response "#", "% tokens", "Eff. %").
TABLE3 = {
    ("simplerl", "aime24", "forward"): (75, 7.58, 3.86), ("simplerl", "aime24", "reverse"): (51, 8.3, 5.0),
    ("dapo", "aime24", "forward"): (410, 11.9, 7.8), ("dapo", "aime24", "reverse"): (258, 14.9, 10.1),
    ("simplerl", "aime25", "forward"): (26, 2.97, 1.53), ("simplerl", "aime25", "reverse"): (53, 7.87, 4.73),
    ("dapo", "aime25", "forward"): (326, 9.18, 6.47), ("dapo", "aime25", "reverse"): (261, 14.19, 9.89),
}
# Problems per dataset of the paper config (AIME 2024 and 2025: 30 each; GPQA-Diamond: 198).
PROBLEMS = {"aime24": 30, "aime25": 30, "gpqa_diamond": 198}


def tail_share(k: int, n: float) -> float:
    """Expected share of a response after its handover at budget k, with n switches spread uniformly."""
    if k == 0:
        return 1.0
    return 1.0 - k / (n + 1.0) if k <= n else 0.0


def fork_share(b: int, n: float) -> float:
    """Share of a response a sweep forks at budget b (from the (b+1)-th switch); none where b >= n."""
    return 1.0 - (b + 1.0) / (n + 1.0) if b + 1 <= n else 0.0


def cross_efficiency(s: float, max_chunk: int) -> float:
    """Accepted tokens per sequential pass of the adaptive chunk policy at effective-switch rate s."""
    return max((1.0 - (1.0 - s) ** g) / s / (g + 1.0) for g in range(1, max_chunk + 1))


def sweep_eps(cs: dict, pair: str, dataset: str, direction: str) -> list[float]:
    """The thresholds of one pair, dataset and direction: the first matching eps_by entry, else eps."""
    for entry in cs["eps_by"]:
        if entry.get("pair", pair) == pair and entry.get("dataset", dataset) == dataset and direction in entry:
            return entry[direction]
    return cs["eps"]


def paper_row(pair: str, dataset: str, direction: str) -> tuple[float, float, float]:
    """(n, % tokens, eff. %) of Table 3, or the mean of the pair and direction's rows."""
    if (pair, dataset, direction) in TABLE3:
        return TABLE3[pair, dataset, direction]
    rows = [v for (p, _, d), v in TABLE3.items() if p == pair and d == direction]
    if not rows:
        raise SystemExit(f"tail_estimate: Table 3 has no {pair} {direction} row to estimate from")
    return tuple(sum(c) / len(rows) for c in zip(*rows))


def estimate(cfg: dict, hf_rate: float, vllm_rate: float) -> list[dict]:
    cs, max_new = cfg["crosssample"], cfg["sampling"]["max_new_tokens"]
    budgets, samples = cs["budgets"], cs["n_samples"]
    modes = ["targeted"] + (["random"] if cs["random_baseline"] else [])
    records = []
    for pair in cs["pairs"]:
        for ds in (d["name"] for d in cfg["datasets"]):
            if ds not in PROBLEMS:
                raise SystemExit(f"tail_estimate: number of problems of dataset {ds} unknown (PROBLEMS)")
            problems = min(PROBLEMS[ds], cs["limit"] or PROBLEMS[ds])
            for direction in cs["directions"]:
                n, pct, eff = paper_row(pair, ds, direction)
                length = min(n / (pct / 100.0), max_new)
                rows = problems * samples
                shares = [tail_share(k, n) for k in budgets]
                full = rows * length  # the largest budget's run: both models
                forks = rows * length * sum(fork_share(b, n) for b in budgets[:-1])  # primary alone
                cross_rate = hf_rate * cross_efficiency(eff / 100.0, cs["max_chunk"])
                for eps in sweep_eps(cs, pair, ds, direction):
                    for mode in modes:
                        hf_s = full / cross_rate + forks / hf_rate
                        cap = max_new / length  # every response at max_new_tokens
                        records.append({
                            "pair": pair, "dataset": ds, "direction": direction, "eps": eps, "mode": mode,
                            "rows": rows, "batches": math.ceil(rows / cs["batch_size"]),
                            "n_switches": round(n, 1), "length": round(length),
                            "tail_share": {str(k): round(s, 3) for k, s in zip(budgets, shares)},
                            "mean_tail_share": round(sum(shares) / len(shares), 3),
                            "tokens_unshared": round(rows * length * len(budgets)),
                            "tokens_shared": round(full + forks), "tokens_forks": round(forks),
                            "cross_rate": round(cross_rate), "hf_hours": round(hf_s / 3600, 1),
                            "hf_hours_at_cap": round(hf_s * cap / 3600, 1),
                            "hf_plus_vllm_hours": round((full / cross_rate + forks / vllm_rate) / 3600, 1),
                        })
    return records


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=Path("config/paper/qwen2.5-32b.yaml"))
    ap.add_argument("--hf-rate", type=float, default=200.0, help="HF primary-only tokens/s per job (assumed)")
    ap.add_argument("--vllm-rate", type=float, default=3000.0, help="vLLM tokens/s per job (assumed)")
    ap.add_argument("--shards", type=int, default=32, help="shards per sweep to size the runtime for")
    args = ap.parse_args()
    cfg = resolve_config(validate_config(yaml.safe_load(args.config.read_text())))
    records = estimate(cfg, args.hf_rate, args.vllm_rate)
    for r in records:
        print(json.dumps(r))
    total = sum(r["tokens_shared"] for r in records)
    forks = sum(r["tokens_forks"] for r in records)
    unshared = sum(r["tokens_unshared"] for r in records)
    unshared_tail = sum(r["tokens_unshared"] * r["mean_tail_share"] for r in records)
    largest = max(records, key=lambda r: r["hf_hours"])
    # A shard takes a contiguous run of whole batches, at most ceil(batches / shards) of them.
    share = {id(r): math.ceil(r["batches"] / args.shards) / r["batches"] for r in records}
    shard_hours = max(r["hf_hours"] * share[id(r)] for r in records)
    shard_at_cap = max(r["hf_hours_at_cap"] * share[id(r)] for r in records)
    print(json.dumps({
        "sweeps": len(records), "tokens_unshared": unshared, "tail_share": round(unshared_tail / unshared, 3),
        "hf_hours_unshared": round(unshared / args.hf_rate / 3600),
        "vllm_hours_unshared": round(unshared / args.vllm_rate / 3600),
        "tokens_shared": total, "fork_share": round(forks / total, 3),
        "hf_job_hours": round(sum(r["hf_hours"] for r in records)),
        "hf_plus_vllm_job_hours": round(sum(r["hf_plus_vllm_hours"] for r in records)),
        "largest_sweep": "/".join(str(largest[k]) for k in ("pair", "dataset", "direction", "mode")),
        "largest_sweep_hours": largest["hf_hours"], "largest_sweep_hours_at_cap": largest["hf_hours_at_cap"],
        "shards": args.shards, "shard_hours": round(shard_hours, 1), "shard_hours_at_cap": round(shard_at_cap, 1),
        "runtime_min": math.ceil(shard_at_cap) * 60,
        "assumed": {"hf_rate": args.hf_rate, "vllm_rate": args.vllm_rate},
    }))


if __name__ == "__main__":
    main()
