"""Batched sampling with a KV cache and keyed noise (plain generation = cross-sampling with budget 0)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import torch
from tqdm import tqdm

from tokenshift.distributions.draw import policy_probs
from tokenshift.distributions.keyed import STREAM_PRIMARY, KeyedNoise, sample_inverse_cdf
from tokenshift.errors import UserError
from tokenshift.files.parquet import write_parquet
from tokenshift.files.shards import WHOLE, Shard
from tokenshift.models.decoding import Decoder
from tokenshift.models.fingerprint import FINGERPRINT_KEY, tokenizer_fingerprint
from tokenshift.models.memory import rebatch, stage_batch


@dataclass(frozen=True)
class SamplingParams:
    """How tokens are drawn; checked here, once, so decoding loops can trust every field."""

    seed: int
    temperature: float
    top_p: float
    max_new_tokens: int

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UserError(f"sampling seed must be an integer, got {self.seed!r}")
        if not self.temperature > 0:
            raise UserError(f"sampling temperature must be > 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise UserError(f"sampling top_p must be in (0, 1], got {self.top_p}")
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) \
                or self.max_new_tokens < 1:
            raise UserError(f"sampling max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Prompt ids: BOS (if the tokenizer has one and the text does not already open with it), then the prompt.

    A prompt rendered by a chat template often begins with the BOS token already (SmolLM2's
    ``<|im_start|>``, Llama 3's ``<|begin_of_text|>``); a second one would be off-distribution.
    """
    ids = tokenizer.encode(prompt, add_special_tokens=False)
    bos = tokenizer.bos_token_id
    return ids if bos is None or ids[:1] == [bos] else [bos] + ids


def left_pad(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids [B, P] and attention mask."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, width - len(s):] = 1
    return ids, mask


def rows_of(problem_ids: list[int], n_samples: int) -> list[tuple[int, int]]:
    """(problem index, sample index) pairs, problem-major."""
    return [(i, s) for i in range(len(problem_ids)) for s in range(n_samples)]


def batches(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def shard_batches(problem_ids: list[int], n_samples: int, batch_size: int, shard: Shard) -> list[list[tuple[int, int]]]:
    """The batches of (problem index, sample index) rows that ``shard`` draws: whole batches of the
    unsharded job, so each is computed exactly as there."""
    return shard.take(list(batches(rows_of(problem_ids, n_samples), batch_size)))


@torch.no_grad()
def sample_batch(model: torch.nn.Module, vocab_size: int, prompt_ids: list[list[int]], problem_ids: torch.Tensor,
                 sample_idx: torch.Tensor, params: SamplingParams, eos_id: int,
                 pad_id: int) -> list[tuple[list[int], str]]:
    """Sample one response per row; returns (response ids incl. EOS, finish reason) per row."""
    dec = Decoder(model, vocab_size)
    ids, mask = left_pad(prompt_ids, pad_id)
    logits = dec.prefill(ids, mask)
    dev = logits.device
    b = len(prompt_ids)
    uniforms = KeyedNoise(params.seed, problem_ids, sample_idx, params.max_new_tokens).table(STREAM_PRIMARY).to(dev)
    done = torch.zeros(b, dtype=torch.bool, device=dev)
    out = torch.full((b, params.max_new_tokens), pad_id, dtype=torch.long, device=dev)
    for t in range(params.max_new_tokens):
        _, trunc = policy_probs(logits, params.temperature, params.top_p)
        tok = sample_inverse_cdf(trunc, uniforms[:, t])
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        out[:, t] = tok
        active = ~done
        done = done | (tok == eos_id)
        if bool(done.all()) or t + 1 == params.max_new_tokens:
            break
        logits = dec.extend(tok.unsqueeze(1), active.unsqueeze(1))[:, 0]
    results = []
    for row in out.tolist():
        if eos_id in row:
            results.append((row[: row.index(eos_id) + 1], "stop"))
        else:
            results.append((row, "length"))
    return results


def generate(model: torch.nn.Module, tokenizer, prompts: list[str], problem_ids: list[int], n_samples: int,
             params: SamplingParams, batch_size: int, progress: Iterable | None = None,
             shard: Shard = WHOLE) -> pl.DataFrame:
    """``n_samples`` responses per prompt as a table (one row per response; ``shard``'s rows only).

    ``batch_size`` picks the shard's rows and bounds the batch; on a GPU the batch is what fits its
    memory (:func:`tokenshift.models.memory.stage_batch`), which keyed noise makes no row depend on.
    """
    vocab = len(tokenizer)
    encoded = [encode_prompt(tokenizer, p) for p in prompts]
    work = shard_batches(problem_ids, n_samples, batch_size, shard)
    if work:
        longest = max(len(encoded[i]) for chunk in work for i, _ in chunk)
        work = rebatch(work, stage_batch("generate", [model], longest, params.max_new_tokens, batch_size))
    records = []
    bar = tqdm(total=sum(map(len, work)), desc="generate", unit="resp", file=progress, mininterval=5)
    for chunk in work:
        pids = torch.tensor([problem_ids[i] for i, _ in chunk])
        sids = torch.tensor([s for _, s in chunk])
        outs = sample_batch(model, vocab, [encoded[i] for i, _ in chunk], pids, sids, params,
                            tokenizer.eos_token_id, tokenizer.pad_token_id)
        for (i, s), (resp, reason) in zip(chunk, outs):
            records.append(response_row(tokenizer, problem_ids[i], s, prompts[i], encoded[i], resp, reason))
        bar.update(len(chunk))
    bar.close()
    return response_table(records)


RESPONSE_SCHEMA = {
    "problem_id": pl.Int64, "sample_idx": pl.Int64, "prompt": pl.String, "prompt_ids": pl.List(pl.Int64),
    "response_ids": pl.List(pl.Int64), "response_text": pl.String, "finish_reason": pl.String,
}


def response_row(tokenizer, problem_id: int, sample_idx: int, prompt: str, prompt_ids: list[int],
                 response_ids: list[int], finish_reason: str) -> dict:
    """One row of :func:`response_table`, its text decoded the same way for every backend."""
    return {"problem_id": problem_id, "sample_idx": sample_idx, "prompt": prompt, "prompt_ids": prompt_ids,
            "response_ids": response_ids, "response_text": tokenizer.decode(response_ids, skip_special_tokens=True),
            "finish_reason": finish_reason}


def response_table(records: list[dict]) -> pl.DataFrame:
    """The generation table every backend writes (one row per response), so later stages never
    know which backend sampled."""
    return pl.DataFrame(records, schema=RESPONSE_SCHEMA)


def write_responses(df: pl.DataFrame, path: str | Path, tokenizer, metadata: dict[str, Any]) -> None:
    """Write a generation table, whichever backend sampled it, with the fingerprint of the tokenizer that
    wrote its ids: the dump checks it against the pair it scores the ids with."""
    write_parquet(df, path, metadata={**metadata, FINGERPRINT_KEY: tokenizer_fingerprint(tokenizer)})
