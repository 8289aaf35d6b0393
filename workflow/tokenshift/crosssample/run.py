"""Cross-sampling a prompt dataset: checks first, then models, batches, sweeps, tables of rows.

Used by the CLI and the Snakemake scripts alike, so both accept and reject the same input.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import polars as pl
import torch
from tqdm import tqdm

from tokenshift.crosssample.context import NOISE_STREAMS
from tokenshift.crosssample.engine import check_engine
from tokenshift.crosssample.fast import DEFAULT_CHUNK, ChunkPolicy
from tokenshift.crosssample.rules import JSThreshold, RandomPositions, check_eps
from tokenshift.crosssample.sweep import SweepStats, check_budgets, sweep_batch
from tokenshift.errors import UserError
from tokenshift.evaluation.accuracy import score_responses
from tokenshift.generation.sampler import SamplingParams, batches, encode_prompt, rows_of
from tokenshift.models.loading import load_model, load_tokenizer, shared_vocab_size

RESPONSE_SCHEMA = {
    "budget": pl.Int64, "problem_id": pl.Int64, "sample_idx": pl.Int64, "response_ids": pl.List(pl.Int64),
    "response_text": pl.String, "length": pl.Int64, "finish_reason": pl.String, "n_switches": pl.Int64,
    "n_effective": pl.Int64,
}
SWITCH_SCHEMA = {
    "problem_id": pl.Int64, "sample_idx": pl.Int64, "switch_index": pl.Int64, "position": pl.Int64,
    "score": pl.Float64, "primary_token": pl.Int64, "intervention_token": pl.Int64, "effective": pl.Boolean,
}


@dataclass(frozen=True)
class CrossConfig:
    """One sweep: threshold, budgets (strictly increasing), engine, noise, chunks; a rate = random baseline."""

    eps: float
    budgets: tuple[int, ...]
    engine: str = "fast"
    noise: str = "independent"
    chunk: ChunkPolicy = DEFAULT_CHUNK
    random_rate: float | None = None

    def __post_init__(self) -> None:
        check_eps(self.eps)
        check_budgets(list(self.budgets))
        check_engine(self.engine)
        if self.noise not in NOISE_STREAMS:
            raise UserError(f"noise must be one of {sorted(NOISE_STREAMS)}, got {self.noise!r}")
        if self.random_rate is not None and not 0.0 <= self.random_rate <= 1.0:
            raise UserError(f"random switch rate must be in [0, 1], got {self.random_rate}")

    def rule(self, seed: int):
        if self.random_rate is None:
            return JSThreshold(self.eps)
        return RandomPositions(seed, self.random_rate)


def select_problems(data: pl.DataFrame, limit: int | None) -> pl.DataFrame:
    if limit is not None:
        if limit < 1:
            raise UserError(f"limit must be >= 1, got {limit}")
        data = data.head(limit)
    return data


def cross_sample_dataset(primary_dir: str | Path, intervention_dir: str | Path, data: pl.DataFrame,
                         n_samples: int, params: SamplingParams, cfg: CrossConfig, batch_size: int,
                         dtype: str = "float32", trust_remote_code: bool = False,
                         progress: TextIO | None = None) -> tuple[pl.DataFrame, pl.DataFrame, SweepStats]:
    """(responses: a row per budget x problem x sample, with ``correct``; switches of the largest budget; costs)."""
    if n_samples < 1 or batch_size < 1:
        raise UserError(f"n_samples and batch_size must be >= 1, got {n_samples}, {batch_size}")
    tok_p = load_tokenizer(primary_dir, trust_remote_code)
    tok_i = load_tokenizer(intervention_dir, trust_remote_code)
    vocab = shared_vocab_size(tok_p, tok_i, f"primary {primary_dir}", f"intervention {intervention_dir}")
    primary = load_model(primary_dir, dtype, trust_remote_code=trust_remote_code)
    intervention = load_model(intervention_dir, dtype, trust_remote_code=trust_remote_code)
    pids = data["problem_id"].to_list()
    encoded = [encode_prompt(tok_p, p) for p in data["prompt"].to_list()]
    rule = cfg.rule(params.seed)
    budgets = list(cfg.budgets)
    responses, switches, stats = [], [], SweepStats()
    bar = tqdm(total=len(pids) * n_samples, desc="crosssample", unit="resp", file=progress, mininterval=5)
    for part in batches(rows_of(pids, n_samples), batch_size):
        p_t = torch.tensor([pids[i] for i, _ in part])
        s_t = torch.tensor([s for _, s in part])
        per_budget, st = sweep_batch(primary, intervention, vocab, [encoded[i] for i, _ in part], p_t, s_t, params,
                                     rule, budgets, tok_p.eos_token_id, tok_p.pad_token_id, cfg.engine, cfg.noise,
                                     cfg.chunk)
        stats.add(st)
        for b, results in per_budget.items():
            for (i, s), res in zip(part, results):
                responses.append({
                    "budget": b, "problem_id": pids[i], "sample_idx": s, "response_ids": res.response_ids,
                    "response_text": tok_p.decode(res.response_ids, skip_special_tokens=True),
                    "length": len(res.response_ids), "finish_reason": res.finish_reason,
                    "n_switches": res.n_switches, "n_effective": res.n_effective,
                })
        for (i, s), res in zip(part, per_budget[budgets[-1]]):
            for j, sw in enumerate(res.switches):
                switches.append({"problem_id": pids[i], "sample_idx": s, "switch_index": j, "position": sw.position,
                                 "score": sw.score, "primary_token": sw.primary_token,
                                 "intervention_token": sw.intervention_token, "effective": sw.effective})
        bar.update(len(part))
    bar.close()
    resp = pl.DataFrame(responses, schema=RESPONSE_SCHEMA).sort("budget", "problem_id", "sample_idx")
    scores = pl.concat([
        score_responses(g, data).with_columns(pl.lit(b, pl.Int64).alias("budget"))
        for (b,), g in resp.group_by("budget", maintain_order=True)
    ])
    resp = resp.join(scores, on=["budget", "problem_id", "sample_idx"], how="left")
    return resp, pl.DataFrame(switches, schema=SWITCH_SCHEMA), stats


def switch_rate(responses: pl.DataFrame, budget: int | None = None) -> float:
    """Switches per generated token (identity swaps included) at ``budget`` (default: the largest)."""
    b = responses["budget"].max() if budget is None else budget
    sub = responses.filter(pl.col("budget") == b)
    total = sub["length"].sum()
    return float(sub["n_switches"].sum() / total) if total else 0.0
