"""Cross-sampling a prompt dataset: models, batches, sweeps, tables of rows.

Used by the CLI and the Snakemake script alike, both with a :class:`CrossSpec` checked at their edge.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import polars as pl
import torch
from tqdm import tqdm

from tokenshift.crosssample.spec import CrossSpec
from tokenshift.crosssample.sweep import SweepStats, handover_position, sweep_batch
from tokenshift.data.datasets import read_dataset
from tokenshift.errors import UserError
from tokenshift.evaluation.accuracy import score_responses
from tokenshift.files.inputs import reading
from tokenshift.files.shards import WHOLE, Shard
from tokenshift.generation.sampler import encode_prompt, shard_batches
from tokenshift.models.device import model_devices
from tokenshift.models.loading import load_model, load_tokenizer, shared_vocab_size
from tokenshift.models.memory import rebatch, stage_batch

RESPONSE_SCHEMA = {
    "budget": pl.Int64, "problem_id": pl.Int64, "sample_idx": pl.Int64, "response_ids": pl.List(pl.Int64),
    "response_text": pl.String, "length": pl.Int64, "finish_reason": pl.String, "n_switches": pl.Int64,
    "n_effective": pl.Int64, "handover": pl.Int64, "tail": pl.String,
}
SWITCH_SCHEMA = {
    "problem_id": pl.Int64, "sample_idx": pl.Int64, "switch_index": pl.Int64, "position": pl.Int64,
    "score": pl.Float64, "primary_token": pl.Int64, "intervention_token": pl.Int64, "effective": pl.Boolean,
}


def read_prompts(path: str | Path) -> pl.DataFrame:
    """The prompt set to cross-sample (a prepared dataset), refused when unreadable or empty: with no
    problem there is nothing to sample and no table to write."""
    with reading(path, "dataset"):
        data = read_dataset(path)
    if data.height == 0:
        raise UserError(f"dataset {path} has no rows: no prompts to cross-sample")
    return data


def select_problems(data: pl.DataFrame, limit: int | None) -> pl.DataFrame:
    """The first ``limit`` problems (all with None); the spec has checked ``limit``."""
    return data if limit is None else data.head(limit)


def cross_sample_dataset(primary_dir: str | Path, intervention_dir: str | Path, data: pl.DataFrame,
                         spec: CrossSpec, progress: TextIO | None = None,
                         shard: Shard = WHOLE) -> tuple[pl.DataFrame, pl.DataFrame, SweepStats]:
    """(responses: a row per budget x problem x sample, with ``correct``; switches of the largest budget; costs).

    ``data`` is the whole prompt set; the spec's ``limit`` selects its first problems, ``shard``
    a run of whole batches of their rows. With ``spec.tail == "vllm"`` the tails are decoded by a
    vLLM engine of the primary started here, after the HF models are released.
    """
    responses, switches, stats = sweep_dataset(primary_dir, intervention_dir, data, spec, progress, shard)
    if spec.tail == "vllm":
        from tokenshift.crosssample.tail import decode_tails

        responses = decode_tails(primary_dir, responses, select_problems(data, spec.limit), spec.sampling, spec.dtype,
                                 spec.device, trust_remote_code=spec.trust_remote_code)
    return grade_responses(responses, data, spec.grader), switches, stats


def sweep_dataset(primary_dir: str | Path, intervention_dir: str | Path, data: pl.DataFrame, spec: CrossSpec,
                  progress: TextIO | None = None,
                  shard: Shard = WHOLE) -> tuple[pl.DataFrame, pl.DataFrame, SweepStats]:
    """The HF phase of :func:`cross_sample_dataset`: its responses without ``correct``; with
    ``spec.tail == "vllm"`` the rows whose budget is spent end at their handover (finish reason
    ``handover``), the tail phase's work."""
    data = select_problems(data, spec.limit)
    if data.height == 0:
        raise UserError("the prompt dataset has no rows: no prompts to cross-sample")
    tok_p = load_tokenizer(primary_dir, spec.trust_remote_code)
    tok_i = load_tokenizer(intervention_dir, spec.trust_remote_code)
    vocab = shared_vocab_size(tok_p, tok_i, f"primary {primary_dir}", f"intervention {intervention_dir}")
    dev_p, dev_i = model_devices(spec.device, 2)
    primary = load_model(primary_dir, spec.dtype, dev_p, spec.trust_remote_code)
    intervention = load_model(intervention_dir, spec.dtype, dev_i, spec.trust_remote_code)
    pids = data["problem_id"].to_list()
    encoded = [encode_prompt(tok_p, p) for p in data["prompt"].to_list()]
    budgets = spec.budgets
    responses, switches, stats = [], [], SweepStats()
    work = shard_batches(pids, spec.n_samples, spec.batch_size, shard)
    if work:
        fast = spec.engine == "fast"
        n_new = spec.sampling.max_new_tokens
        work = rebatch(work, stage_batch(
            "crosssample", [primary, intervention], max(len(encoded[i]) for part in work for i, _ in part), n_new,
            spec.batch_size, chunk=max(spec.chunk_size, spec.max_chunk) if fast else 1,
            switches=min(spec.max_budget, n_new) if fast else 0))
    bar = tqdm(total=sum(map(len, work)), desc="crosssample", unit="resp", file=progress, mininterval=5)
    for part in work:
        p_t = torch.tensor([pids[i] for i, _ in part])
        s_t = torch.tensor([s for _, s in part])
        per_budget, st = sweep_batch(primary, intervention, vocab, [encoded[i] for i, _ in part], p_t, s_t, spec,
                                     tok_p.eos_token_id, tok_p.pad_token_id)
        stats.add(st)
        for b, results in per_budget.items():
            for (i, s), res in zip(part, results):
                responses.append({
                    "budget": b, "problem_id": pids[i], "sample_idx": s, "response_ids": res.response_ids,
                    "response_text": tok_p.decode(res.response_ids, skip_special_tokens=True),
                    "length": len(res.response_ids), "finish_reason": res.finish_reason,
                    "n_switches": res.n_switches, "n_effective": res.n_effective,
                    "handover": handover_position(res, b), "tail": "vllm" if res.finish_reason == "handover" else "hf",
                })
        for (i, s), res in zip(part, per_budget[budgets[-1]]):
            for j, sw in enumerate(res.switches):
                switches.append({"problem_id": pids[i], "sample_idx": s, "switch_index": j, "position": sw.position,
                                 "score": sw.score, "primary_token": sw.primary_token,
                                 "intervention_token": sw.intervention_token, "effective": sw.effective})
        bar.update(len(part))
    bar.close()
    resp = pl.DataFrame(responses, schema=RESPONSE_SCHEMA).sort("budget", "problem_id", "sample_idx")
    return resp, pl.DataFrame(switches, schema=SWITCH_SCHEMA), stats


def grade_responses(resp: pl.DataFrame, data: pl.DataFrame, grader: str) -> pl.DataFrame:
    """``resp`` with ``correct`` after its columns (the written table keeps no ``parsed``). A shard that draws
    no batch (more shards than batches) has no rows: it gets the same columns, so its part still merges."""
    if resp.height == 0:
        return resp.with_columns(pl.lit(None, pl.Boolean).alias("correct"))
    scores = pl.concat([
        score_responses(g, data, grader).drop("parsed").with_columns(pl.lit(b, pl.Int64).alias("budget"))
        for (b,), g in resp.group_by("budget", maintain_order=True)
    ])
    return resp.join(scores, on=["budget", "problem_id", "sample_idx"], how="left")


def switch_rate(responses: pl.DataFrame, budget: int | None = None) -> float:
    """Switches (identity swaps included) per token decoded while budget remained, at ``budget`` (default:
    the largest): tokens up to each row's ``handover``. The tokens after it could not switch, and with
    ``crosssample.tail: vllm`` they are vLLM's draws: counted, they would dilute the rate and make the
    random baseline depend on them, so it would differ between the two tail modes and between reruns."""
    b = responses["budget"].max() if budget is None else budget
    sub = responses.filter(pl.col("budget") == b)
    total = sub["handover"].sum()
    return float(sub["n_switches"].sum() / total) if total else 0.0
