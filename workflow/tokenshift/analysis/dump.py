"""Teacher-forced scoring of a response set by two models into the per-token table.

Every column, its type and units, and the file's metadata are listed in docs/per-token-table.md.

One forward pass per model per batch up to the last hidden layer; the LM heads and every
vocabulary-sized statistic then run chunk by chunk (:mod:`tokenshift.analysis.divergence`), and each
batch is appended to the Parquet file as a row group, so memory does not grow with the
number of responses. The file appears under its final name only when complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

from tokenshift import __version__
from tokenshift.analysis.divergence import DivergenceConfig, NonFiniteLogits, chunked_stats
from tokenshift.data.organism import ANSWER_MARKER, verify
from tokenshift.errors import UserError
from tokenshift.files.atomic import atomic_file
from tokenshift.files.inputs import read_table
from tokenshift.files.parquet import compliant_schema
from tokenshift.files.shards import WHOLE, Shard
from tokenshift.generation.sampler import batches
from tokenshift.models.device import model_devices
from tokenshift.models.fingerprint import check_fingerprint
from tokenshift.models.loading import ModelError, load_model, load_tokenizer, shared_vocab_size
from tokenshift.models.memory import rebatch, stage_batch

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("problem_id", "sample_idx", "prompt_ids", "response_ids")


@dataclass(frozen=True)
class DumpOptions:
    """How to run: rows per forward batch (the bound of what fits a GPU), weights dtype, device, answer
    marker for ``answer_start``, and the shard of the batches this job scores."""

    batch_size: int = 16
    dtype: str = "float32"
    device: str = "cpu"
    answer_marker: str = ANSWER_MARKER
    trust_remote_code: bool = False
    shard: Shard = WHOLE


@dataclass
class DumpSummary:
    """Counts a rule log and the benchmark report."""

    n_responses: int
    n_empty: int
    n_positions: int


class Scorer:
    """One causal LM split into trunk (hidden states) and head (logits cut to the shared vocabulary)."""

    def __init__(self, model: torch.nn.Module, vocab: int, name: str) -> None:
        cfg = model.config
        for attr in ("logit_scale", "logits_scaling"):
            if getattr(cfg, attr, None) not in (None, 1, 1.0):
                raise ModelError(f"{name} model scales its logits ({attr}); not supported by the chunked head")
        self.model = model
        self.trunk = model.get_decoder()
        head = model.get_output_embeddings()
        self.weight = head.weight[:vocab]
        self.bias = None if getattr(head, "bias", None) is None else head.bias[:vocab]
        self.softcap = getattr(cfg, "final_logit_softcapping", None)
        self.max_positions = getattr(cfg, "max_position_embeddings", None)
        self.name = name
        self.device = model.device

    def hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last hidden states [B, T, H]: the trunk only, so no [B, T, vocab] logits are built."""
        return self.trunk(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Logits of hidden states over the shared vocabulary (softcapping applied as the model does), on
        the device of ``h`` whichever device holds this model."""
        logits = torch.nn.functional.linear(h.to(self.weight.device), self.weight, self.bias)
        if self.softcap:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits.to(h.device)


@dataclass
class Pair:
    base: Scorer
    tuned: Scorer
    tokenizer: object
    vocab: int
    device: torch.device


def load_tokenizers(base_dir: str | Path, tuned_dir: str | Path,
                    opts: DumpOptions) -> tuple[PreTrainedTokenizerBase, int]:
    """The pair's common tokenizer (base's) and its size, after checking that base and tuned agree."""
    tok_b = load_tokenizer(base_dir, opts.trust_remote_code)
    tok_t = load_tokenizer(tuned_dir, opts.trust_remote_code)
    return tok_b, shared_vocab_size(tok_b, tok_t, f"base {base_dir}", f"tuned {tuned_dir}")


def load_pair(base_dir: str | Path, tuned_dir: str | Path, opts: DumpOptions,
              shared: tuple[PreTrainedTokenizerBase, int] | None = None) -> Pair:
    """Both models, after checking that their tokenizers agree (before any weights are read); ``shared`` is
    :func:`load_tokenizers`'s result when the caller has checked its inputs against it already."""
    tok, vocab = shared or load_tokenizers(base_dir, tuned_dir, opts)
    scorers = []
    for (name, path), device in zip((("base", base_dir), ("tuned", tuned_dir)), model_devices(opts.device, 2)):
        model = load_model(path, opts.dtype, device, opts.trust_remote_code)
        rows = model.get_output_embeddings().weight.shape[0]
        if rows < vocab:
            raise ModelError(f"{name} model {path} has {rows} output rows for a {vocab}-token tokenizer")
        scorers.append(Scorer(model, vocab, name))
    return Pair(scorers[0], scorers[1], tok, vocab, scorers[0].model.device)


def read_responses(path: str | Path) -> pl.DataFrame:
    """A generations table (see tokenshift.generation.sampler), checked for the columns the dump needs."""
    return read_table(path, "responses", REQUIRED_COLUMNS)


def check_responses(df: pl.DataFrame, pair: Pair) -> None:
    """Ids inside the vocabulary and prompt+response inside both models' context, else a named error."""
    for pid, sid, prompt, resp in zip(df["problem_id"], df["sample_idx"], df["prompt_ids"], df["response_ids"]):
        if len(prompt) == 0:
            raise UserError(f"problem {pid} sample {sid}: empty prompt_ids (need at least BOS)")
        fed = len(prompt) + max(len(resp) - 1, 0)
        for sc in (pair.base, pair.tuned):
            if sc.max_positions is not None and fed > sc.max_positions:
                raise UserError(f"problem {pid} sample {sid}: prompt+response is {fed} tokens, beyond the "
                                f"{sc.name} model's context of {sc.max_positions}")
        ids = list(prompt) + list(resp)
        if ids and (min(ids) < 0 or max(ids) >= pair.vocab):
            raise UserError(f"problem {pid} sample {sid}: token id outside the shared vocabulary of {pair.vocab}")


def correctness(df: pl.DataFrame, correct_path: str | Path | None) -> pl.Series:
    """Per-response correctness: from an eval table if given, else the task verifier if the
    responses carry an ``answer``, else null."""
    if correct_path is not None:
        return joined_correctness(df, correct_path)
    if "answer" in df.columns and "response_text" in df.columns:
        return pl.Series("correct", [verify(t, a) for t, a in zip(df["response_text"], df["answer"])],
                         dtype=pl.Boolean)
    return pl.Series("correct", [None] * df.height, dtype=pl.Boolean)


def joined_correctness(df: pl.DataFrame, correct_path: str | Path) -> pl.Series:
    """The eval table's ``correct`` for each response, by (problem_id, sample_idx).

    A table of another run (other problems or samples) would join to an all-null column without a
    word: no match at all is an error, a partial match a warning with the count.
    """
    key = ["problem_id", "sample_idx"]
    table = read_table(correct_path, "correctness table", [*key, "correct"])
    if table.select(key).is_duplicated().any():
        raise UserError(f"correctness table {correct_path} has more than one row for some (problem_id, sample_idx)")
    table = table.select(*key, pl.col("correct").cast(pl.Boolean), pl.lit(True).alias("_matched"))
    joined = df.select(key).join(table, on=key, how="left", maintain_order="left")
    matched = int(joined["_matched"].sum())
    if matched == 0 and df.height:
        raise UserError(f"correctness table {correct_path} matches none of the {df.height} responses by "
                        "(problem_id, sample_idx): is it of another run?")
    if matched < df.height:
        log.warning("correctness table %s matches %d of %d responses; the other %d get correct = null",
                    correct_path, matched, df.height, df.height - matched)
    return joined["correct"]


def answer_start(tokenizer: PreTrainedTokenizerBase, ids: list[int], marker: str) -> int | None:
    """Index of the first response token whose decoded prefix contains ``marker`` (None if absent).

    Binary search over decoded prefixes: works for any tokenizer, O(log L) decodes.
    """
    if not marker or marker not in tokenizer.decode(ids):
        return None
    lo, hi = 0, len(ids) - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if marker in tokenizer.decode(ids[: mid + 1]):
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass
class Batch:
    """Right-padded prompt+response ids and the flat list of scored positions."""

    rows: list[int]  # indices into the responses table
    input_ids: torch.Tensor
    mask: torch.Tensor
    row_of: torch.Tensor  # [N] batch row of each scored position
    col_of: torch.Tensor  # [N] index of the hidden state predicting it
    tokens: torch.Tensor  # [N] the scored (sampled) token
    position: torch.Tensor  # [N] its index t within the response


def batch_rows(df: pl.DataFrame, batch_size: int, shard: Shard = WHOLE) -> list[list[int]]:
    """Row indices of each batch: non-empty responses in table order, ``shard``'s run of whole batches."""
    keep = [i for i, r in enumerate(df["response_ids"]) if len(r) > 0]
    return shard.take(list(batches(keep, batch_size)))


def make_batches(df: pl.DataFrame, groups: list[list[int]], pad_id: int) -> Iterator[Batch]:
    """The batches of ``groups`` (from :func:`batch_rows`); the last response token is never fed."""
    prompts, resps = df["prompt_ids"].to_list(), df["response_ids"].to_list()
    for rows in groups:
        seqs = [prompts[i] + resps[i][:-1] for i in rows]
        width = max(len(s) for s in seqs)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        row_of, col_of, tokens, position = [], [], [], []
        for b, (i, s) in enumerate(zip(rows, seqs)):
            ids[b, :len(s)] = torch.tensor(s, dtype=torch.long)
            mask[b, :len(s)] = 1
            n, p = len(resps[i]), len(prompts[i])
            row_of.append(np.full(n, b))
            col_of.append(np.arange(p - 1, p - 1 + n))
            tokens.append(np.asarray(resps[i]))
            position.append(np.arange(n))
        yield Batch(rows, ids, mask, *(torch.from_numpy(np.concatenate(a).astype(np.int64))
                                       for a in (row_of, col_of, tokens, position)))


@torch.no_grad()
def score_batch(pair: Pair, batch: Batch, cfg: DivergenceConfig) -> dict[str, torch.Tensor]:
    """One trunk pass per model, then chunked heads and statistics for the batch's positions."""
    hb, ht = (sc.hidden(batch.input_ids.to(sc.device), batch.mask.to(sc.device))[
        batch.row_of.to(sc.device), batch.col_of.to(sc.device)].to(pair.device) for sc in (pair.base, pair.tuned))
    return chunked_stats(hb, ht, batch.tokens.to(pair.device), pair.base.head, pair.tuned.head, pair.vocab, cfg)


@torch.no_grad()
def bare_forward(pair: Pair, batch: Batch) -> None:
    """The reference cost: plain full-logit forward passes of both models on the batch."""
    for sc in (pair.base, pair.tuned):
        sc.model(input_ids=batch.input_ids.to(sc.device), attention_mask=batch.mask.to(sc.device), use_cache=False)


def dump_schema(cfg: DivergenceConfig, metadata: dict[str, str]) -> pa.Schema:
    """Arrow schema of the per-token table; docs/per-token-table.md documents it (a test compares the two).

    ``k`` is kept for callers; the list lengths follow ``cfg.k`` (cut to the vocabulary size).
    """
    f32, i32 = pa.float32(), pa.int32()
    fields = [("problem_id", pa.int64()), ("sample_idx", pa.int64()), ("position", i32), ("length", i32),
              ("norm_position", f32), ("answer_start", i32), ("token_id", i32), ("token_text", pa.string()),
              ("logprob_base", f32), ("logprob_tuned", f32), ("entropy_base", f32), ("entropy_tuned", f32),
              ("js", f32), ("js_full", f32)]
    fields += [(c, f32) for c in cfg.extra_columns()]
    fields += [("topk_ids_base", pa.list_(i32)), ("topk_probs_base", pa.list_(f32)),
               ("topk_ids_tuned", pa.list_(i32)), ("topk_probs_tuned", pa.list_(f32)),
               ("topk_overlap", pa.list_(pa.int8()))]
    fields += [(f"base_rank_of_tuned_top{i}", i32) for i in (1, 2, 3)]
    fields += [(f"base_prob_of_tuned_top{i}", f32) for i in (1, 2, 3)]
    fields += [("correct", pa.bool_())]
    return compliant_schema(pa.schema(fields, metadata={key.encode(): val.encode() for key, val in metadata.items()}))


def _fixed_list(t: torch.Tensor, typ: pa.ListType) -> pa.Array:
    arr = t.cpu().numpy()
    n, k = arr.shape
    offsets = pa.array(np.arange(0, n * k + 1, k, dtype=np.int32))
    return pa.ListArray.from_arrays(offsets, pa.array(arr.reshape(-1), type=typ.value_type), type=typ)


def batch_table(schema: pa.Schema, df: pl.DataFrame, batch: Batch, stats: dict[str, torch.Tensor],
                vocab_text: pa.Array, starts: list[int | None], correct: pl.Series) -> pa.Table:
    """The Arrow record batch of one scored batch (vectorised; no per-position Python)."""
    rows = np.asarray(batch.rows)[batch.row_of.numpy()]
    lengths = np.asarray([len(r) for r in df["response_ids"]])[rows]
    pos = batch.position.numpy()
    tok = batch.tokens.numpy()
    cols: dict[str, pa.Array] = {
        "problem_id": pa.array(df["problem_id"].to_numpy()[rows], pa.int64()),
        "sample_idx": pa.array(df["sample_idx"].to_numpy()[rows], pa.int64()),
        "position": pa.array(pos, pa.int32()), "length": pa.array(lengths, pa.int32()),
        "norm_position": pa.array(((pos + 0.5) / lengths).astype(np.float32)),
        "answer_start": pa.array([starts[i] for i in rows], pa.int32()),
        "token_id": pa.array(tok, pa.int32()), "token_text": pc.take(vocab_text, pa.array(tok)),
        "correct": pa.array(correct.to_numpy()[rows] if correct.null_count == 0 else
                            [correct[int(i)] for i in rows], pa.bool_()),
    }
    for name in schema.names:
        if name in cols:
            continue
        typ = schema.field(name).type
        t = stats[name]
        cols[name] = _fixed_list(t, typ) if pa.types.is_list(typ) else pa.array(t.cpu().numpy(), typ)
    return pa.Table.from_arrays([cols[n] for n in schema.names], schema=schema)


def run_dump(base_dir: str | Path, tuned_dir: str | Path, responses: str | Path, out: str | Path,
             cfg: DivergenceConfig, opts: DumpOptions = DumpOptions(), correct_path: str | Path | None = None,
             progress: TextIO | None = None) -> DumpSummary:
    """Score ``responses`` with both models and write the per-token table to ``out`` atomically."""
    if opts.batch_size < 1:
        raise UserError(f"batch_size must be >= 1, got {opts.batch_size}")
    # Every input is checked before any weights are read.
    df = read_responses(responses)
    correct = correctness(df, correct_path)
    shared = load_tokenizers(base_dir, tuned_dir, opts)
    check_fingerprint(responses, shared[0], f"base {base_dir}")
    pair = load_pair(base_dir, tuned_dir, opts, shared)
    metadata = {"base": str(base_dir), "tuned": str(tuned_dir), "responses": str(responses)}
    return dump_loaded(pair, df, out, cfg, opts, metadata, correct, progress)


def dump_loaded(pair: Pair, df: pl.DataFrame, out: str | Path, cfg: DivergenceConfig, opts: DumpOptions,
                metadata: dict, correct: pl.Series, progress: TextIO | None = None) -> DumpSummary:
    """The dump once models are loaded (what the throughput benchmark times)."""
    check_responses(df, pair)
    tok = pair.tokenizer
    n_empty = sum(1 for r in df["response_ids"] if len(r) == 0)
    if n_empty:
        log.warning("skipping %d empty responses of %d", n_empty, df.height)
    starts = [answer_start(tok, list(r), opts.answer_marker) if len(r) else None for r in df["response_ids"]]
    vocab_text = pa.array(tok.batch_decode([[i] for i in range(pair.vocab)]), pa.string())
    metadata = {**metadata, "tokenshift": __version__, "top_p": cfg.top_p, "temperature": cfg.temperature,
                "extra_top_p": sorted(cfg.extra_columns().values()), "k": cfg.k, "dtype": opts.dtype,
                "n_responses": df.height, "n_empty": n_empty}
    schema = dump_schema(cfg, {key: json.dumps(v, sort_keys=True) for key, v in metadata.items()})
    n_pos = 0
    groups = batch_rows(df, opts.batch_size, opts.shard)
    if groups:  # on a GPU, batches of what fits its memory; the statistics of a position depend on its row alone
        rows = [i for g in groups for i in g]
        longest = [int(df[col].list.len().to_numpy()[rows].max()) for col in ("prompt_ids", "response_ids")]
        groups = rebatch(groups, stage_batch("dump", [pair.base.model, pair.tuned.model], *longest, opts.batch_size,
                                             chunk=cfg.chunk_for(pair.vocab)))
    bar = tqdm(total=sum(map(len, groups)), desc="dump", unit="resp", file=progress, mininterval=5)
    try:
        with atomic_file(out) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in make_batches(df, groups, tok.pad_token_id or 0):
                try:
                    stats = score_batch(pair, batch, cfg)
                except NonFiniteLogits as exc:
                    i = batch.rows[int(batch.row_of[exc.index])]
                    raise UserError(f"non-finite logits from the {exc.model} model at problem "
                                    f"{df['problem_id'][i]} sample {df['sample_idx'][i]} position "
                                    f"{int(batch.position[exc.index])}") from None
                writer.write_table(batch_table(schema, df, batch, stats, vocab_text, starts, correct))
                n_pos += batch.tokens.shape[0]
                bar.update(len(batch.rows))
            if n_pos == 0:
                writer.write_table(schema.empty_table())
    finally:
        bar.close()
    return DumpSummary(df.height, n_empty, n_pos)
