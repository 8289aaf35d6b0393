"""Batch sizes from memory: how many rows a stage can keep in flight on its device.

A stage's ``batch_size`` (generation, dump, cross-sampling) is an upper bound; on a CUDA GPU the
batch actually run is the largest that fits the memory left once the weights are loaded
(:func:`plan_batch`), and on the CPU it is the configured value as is, so CPU outputs stay
byte for byte what they were. The estimate is derived in :func:`row_estimate`.

Changing the batch never changes which rows a shard job draws: each of the shard's whole
configured batches is cut into planned batches (:func:`rebatch`), and every row's tokens depend
on its keys alone (keyed noise), not on the rows batched with it. Its numbers are another matter:
a forward pass over another batch shape rounds differently, so on a GPU a batch cut smaller than
configured gives the same tokens and decisions except where a draw or a threshold falls within
rounding of a boundary, and floating-point values (switch scores, dump statistics) equal to
rounding. The planned batch is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import torch

from tokenshift.errors import UserError

log = logging.getLogger(__name__)

T = TypeVar("T")

STAGES = ("generate", "dump", "crosssample")
# Share of the free memory a plan fills: the rest absorbs allocator fragmentation, CUDA workspaces
# and the small tensors the estimate leaves out.
SAFETY = 0.8
# Float32 buffers of one vocabulary row alive at once while one position is decided, counted with
# torch's memory hooks on the path a GPU takes (full stable sort for top-p; tests/test_memory_plan.py
# measures them): sampling (softmax, top-p sort values, cumulative masses, mask, truncated copy) 6;
# a cross-sampling verify step (the drafts' truncated rows, the intervention's, their stack and the
# rule's JS terms) 10; the dump's statistics of one position for both models (softmaxes, p log p,
# sorts, nucleus masks of every top_p, truncated JS terms) 18.
DECISION_BUFFERS = {"generate": 6, "crosssample": 10, "dump": 18}
# Bytes of statistics the dump keeps per scored position until its batch is written: about 400 (the
# float32 columns and top-k lists of k = 10, ids as int64 on the device), twice while the chunks' parts
# are concatenated.
DUMP_POSITION_BYTES = 1024
# Bytes per row and token of decoding bookkeeping: attention masks and their grown copies, the keyed
# noise table, the output ids (int64 and float64 tensors of a row's length).
BOOKKEEPING_BYTES = 32

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class ModelShape:
    """What the estimate reads from a model's config."""

    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    hidden: int
    intermediate: int
    vocab: int
    attention: str  # the attention implementation: eager materialises scores, sdpa and flash kernels do not

    @classmethod
    def of(cls, config) -> ModelShape:
        """From a transformers config (the text config of a multimodal one) or any object with its fields."""
        cfg = config.get_text_config() if hasattr(config, "get_text_config") else config
        heads = int(cfg.num_attention_heads)
        hidden = int(cfg.hidden_size)
        kv = getattr(cfg, "num_key_value_heads", None) or heads
        head_dim = getattr(cfg, "head_dim", None) or hidden // heads
        inter = getattr(cfg, "intermediate_size", None) or 4 * hidden
        attn = getattr(cfg, "_attn_implementation", None) or "sdpa"
        return cls(int(cfg.num_hidden_layers), heads, int(kv), int(head_dim), hidden, int(inter),
                   int(cfg.vocab_size), str(attn))


@dataclass(frozen=True)
class RowEstimate:
    """Bytes of one batch, split as :func:`row_estimate` derives them; ``per_row`` and ``fixed`` are what plans use."""

    kv_cache: int  # per row: every layer's keys and values of all models, at the longest sequence
    kv_copy: int  # per row: one layer's copy while the cache grows (torch.cat of the old and the new)
    activations: int  # per row: the largest single forward step of one layer
    logits: int  # per row: the logits and decision buffers of one step (generation, cross-sampling)
    carried: int  # per row: the previous step's logits and distribution, referenced through the next step
    hidden_states: int  # per row: the dump's scored hidden states of each model and the running trunk's output
    statistics: int  # per row: the dump's statistics of the row's positions
    bookkeeping: int  # per row: masks, ids, noise tables
    fixed: int  # per batch, whatever its size: the dump's chunk of logits and statistics

    @property
    def held(self) -> int:
        """Bytes per row alive throughout: the caches, the carried step, hidden states, bookkeeping."""
        return self.kv_cache + self.kv_copy + self.carried + self.hidden_states + self.bookkeeping

    def peak(self, rows: int) -> int:
        """The estimated peak of a batch of ``rows`` rows.

        What is held lives throughout, while a layer's forward (its activations) and the
        turning of logits into decisions or statistics (per row, plus the dump's fixed chunk)
        come one after the other: a forward pass ends before its logits are used, and the dump's
        trunks are done before its statistics start. So the larger of the two phases counts.
        """
        return rows * self.held + max(rows * self.activations, rows * (self.logits + self.statistics) + self.fixed)

    @property
    def per_row(self) -> int:
        """Bytes one more row adds to the batch's peak, at most: ``peak(n) <= n x per_row + fixed``."""
        return self.held + max(self.activations, self.logits + self.statistics)

    def rows_within(self, budget: int) -> int:
        """The most rows whose :meth:`peak` stays within ``budget`` bytes (0 if not even one)."""
        if budget - self.fixed <= 0:
            return 0
        forward = budget // (self.held + self.activations) if self.held + self.activations else budget
        decide = (budget - self.fixed) // (self.held + self.logits + self.statistics)
        return max(0, min(forward, decide))


class Plan(NamedTuple):
    """A stage's planned batch: ``batch`` rows, each adding ``per_row`` bytes to ``fixed`` bytes per batch."""

    batch: int
    per_row: int
    fixed: int


def element_size(dtype: torch.dtype | str) -> int:
    """Bytes per element of a dtype or its config name (float32, bfloat16, ...)."""
    if isinstance(dtype, str):
        if dtype not in _DTYPES:
            raise UserError(f"unknown dtype {dtype!r}; choose one of {sorted(_DTYPES)}")
        dtype = _DTYPES[dtype]
    return dtype.itemsize


def layer_activations(shape: ModelShape, e: int, tokens: int, context: int) -> int:
    """Bytes of one decoder layer's forward on ``tokens`` new tokens attending to ``context`` slots, per row.

    Per token: the residual stream, its normalised copy, the layer's output and the rotary tables
    (4 x hidden); queries, keys and values with their rotated copies and the attention output
    (2 x (heads + kv_heads) x head_dim); the MLP's gate and up projections and their product, alive
    together (3 x intermediate), all in the model's dtype. Per context slot: with a padding mask
    transformers expands grouped keys and values to every query head (2 x heads x head_dim, when
    kv_heads < heads). Attention adds the mask of ``tokens`` x ``context`` (booleans for SDPA and
    flash kernels, which never form the scores); eager attention forms it in the model's dtype,
    and per head the scores, their float32 softmax and its cast back (2 e + 4 bytes each).
    """
    per_token = 4 * shape.hidden + 2 * (shape.heads + shape.kv_heads) * shape.head_dim + 3 * shape.intermediate
    expanded = 2 * shape.heads * shape.head_dim * context * e if shape.kv_heads < shape.heads else 0
    attn = tokens * context
    if shape.attention == "eager":
        attn = tokens * context * e + shape.heads * tokens * context * (2 * e + 4)
    return tokens * per_token * e + expanded + attn


def row_estimate(stage: str, shape: ModelShape, dtype: torch.dtype | str, prompt_len: int, new_tokens: int,
                 models: int = 1, chunk: int = 1, switches: int = 0) -> RowEstimate:
    """Peak bytes of a batch beyond the loaded weights, as bytes per row plus bytes per batch.

    With e the bytes of the model's dtype, f = max(e, 4) those of the float32 (float64 for float64
    models) in which logits are turned into probabilities, L layers, K key-value heads of size D,
    vocabulary V, ``models`` models of this shape (the base and tuned or primary and intervention
    models of a pair), a prompt of P = ``prompt_len`` tokens and N = ``new_tokens`` response tokens:

    - KV cache (generate, crosssample): every layer keeps the keys and values of every slot a row
      has fed, 2 x L x K x D x slots x e per row and model. Generation feeds S = P + N slots. The
      fast cross-sampling engine also keeps the slots of drafts it rejected (masked, never
      removed): each of the up to ``switches`` + 1 chunks cut short (an effective switch, the
      row's end) wastes at most ``chunk`` slots, so slots <= S + (switches + 1) x chunk.
      DynamicCache grows by concatenation, so one layer's old and new copies coexist: one more
      layer's worth (one model appends at a time).
    - Activations: only one layer of one model runs at a time, and the weights are loaded already.
      Decoding's largest step is the prefill (P + chunk - 1 tokens: the fast engine verifies its
      first chunk together with the prompt) or a chunk of ``chunk`` tokens attending to the full
      cache, whichever is larger (:func:`layer_activations`). The dump runs the trunk on the whole
      sequence of S tokens without a cache.
    - Logits (generate, crosssample): per decided position, the model's logits row (V x e) and
      the decision buffers (:data:`DECISION_BUFFERS` x V x f); a step decides 1 position per row
      in generation and the naive engine, up to ``chunk`` (gamma) in the fast engine. The previous
      step's logits and the distribution drawn from, chunk x V x (e + f), stay referenced while
      the next forward pass runs.
    - Dump: the LM heads run on chunks of ``chunk`` positions of the flattened batch
      (:func:`tokenshift.analysis.divergence.chunked_stats`), so the logits are never a
      [positions x V] tensor: per batch, whatever its size, ``chunk`` x V x (models x e +
      :data:`DECISION_BUFFERS` x f). Per row, the scored hidden states of each model and the
      running trunk's last hidden states, (models + 1) x S x hidden x e, and, once the trunks are
      done, the statistics (:data:`DUMP_POSITION_BYTES` x S).
    - Bookkeeping: :data:`BOOKKEEPING_BYTES` x S per row.

    Rows of a batch are padded to its longest, so P and N are the longest prompt and response.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {STAGES}")
    e = element_size(dtype)
    f = max(e, 4)
    seq = prompt_len + new_tokens
    kv_slot = 2 * shape.kv_heads * shape.head_dim * e  # one layer's keys and values of one slot
    book = BOOKKEEPING_BYTES * seq
    if stage == "dump":
        return RowEstimate(
            kv_cache=0, kv_copy=0, activations=layer_activations(shape, e, seq, seq), logits=0, carried=0,
            hidden_states=(models + 1) * seq * shape.hidden * e, statistics=DUMP_POSITION_BYTES * seq,
            bookkeeping=book, fixed=chunk * shape.vocab * (models * e + DECISION_BUFFERS[stage] * f))
    slots = seq + (switches + 1) * chunk if stage == "crosssample" else seq
    prefill = prompt_len + chunk - 1
    act = max(layer_activations(shape, e, prefill, prefill), layer_activations(shape, e, chunk, slots))
    return RowEstimate(
        kv_cache=models * shape.layers * kv_slot * slots, kv_copy=kv_slot * slots, activations=act,
        logits=chunk * shape.vocab * (e + DECISION_BUFFERS[stage] * f), carried=chunk * shape.vocab * (e + f),
        hidden_states=0, statistics=0, bookkeeping=book, fixed=0)


def gib(n: float) -> str:
    return f"{n / 2 ** 30:.2f} GiB"


def plan_batch(stage: str, model_config, dtype: torch.dtype | str, prompt_len: int, new_tokens: int, upper: int,
               free_bytes: int | None, models: int = 1, chunk: int = 1, switches: int = 0) -> Plan:
    """The largest batch, at most ``upper``, whose estimate (:func:`row_estimate`) fits in :data:`SAFETY` of
    ``free_bytes`` (:meth:`RowEstimate.peak`; at least (``free_bytes`` x SAFETY - fixed) // per_row rows).

    ``free_bytes`` is the device's free memory with the weights loaded; None (the CPU) keeps ``upper``.
    ``chunk``: positions decided per row and step (cross-sampling's largest gamma) or, for the dump,
    positions per LM-head chunk. ``switches``: the most effective switches a cross-sampling row
    makes (its largest budget). Raises :class:`UserError` when not even one row fits.
    """
    if isinstance(upper, bool) or not isinstance(upper, int) or upper < 1:
        raise UserError(f"{stage} batch_size must be an integer >= 1, got {upper!r}")
    est = row_estimate(stage, ModelShape.of(model_config), dtype, prompt_len, new_tokens, models, chunk, switches)
    if free_bytes is None:
        return Plan(upper, est.per_row, est.fixed)
    rows = est.rows_within(int(SAFETY * free_bytes))
    if rows < 1:
        raise UserError(f"{stage}: one row of {prompt_len} + {new_tokens} tokens needs about {gib(est.per_row)} "
                        f"(+ {gib(est.fixed)} per batch) of GPU memory beyond the weights, but only "
                        f"{gib(free_bytes)} is free ({SAFETY:.0%} of it usable); shorten prompts or "
                        "max_new_tokens, use a smaller dtype, or a GPU with more memory")
    return Plan(min(upper, rows), est.per_row, est.fixed)


def device_free_bytes(device: torch.device) -> int | None:
    """Memory a new allocation can get on ``device``: free device memory plus what torch's caching allocator
    holds unused; None off CUDA (the CPU keeps its configured batch)."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def stage_batch(stage: str, loaded: Sequence[torch.nn.Module], prompt_len: int, new_tokens: int, upper: int,
                chunk: int = 1, switches: int = 0) -> int:
    """:func:`plan_batch` for a stage's loaded models, logged: the configured ``upper`` on the CPU, else the
    smallest plan over the devices holding them (each device's models counted there, sized by the
    largest of them)."""
    by_device: dict[torch.device, list[torch.nn.Module]] = {}
    for m in loaded:
        by_device.setdefault(next(m.parameters()).device, []).append(m)
    batch = upper
    for device, ms in by_device.items():
        dtype = next(ms[0].parameters()).dtype
        config = max((m.config for m in ms), key=lambda c: row_estimate(
            stage, ModelShape.of(c), dtype, prompt_len, new_tokens, 1, chunk, switches).per_row)
        free = device_free_bytes(device)
        plan = plan_batch(stage, config, dtype, prompt_len, new_tokens, upper, free, len(ms), chunk, switches)
        batch = min(batch, plan.batch)
        where = f"{gib(free)} free on {device}" if free is not None else f"{device}: the configured batch_size"
        log.info("%s: batch %d rows (batch_size %d; about %s per row + %s per batch for %d + %d tokens; %s)",
                 stage, plan.batch, upper, gib(plan.per_row), gib(plan.fixed), prompt_len, new_tokens, where)
    return batch


def rebatch(groups: Sequence[Sequence[T]], size: int) -> list[list[T]]:
    """Each of ``groups`` (a shard's run of whole configured batches) cut into the fewest contiguous parts of at
    most ``size`` items, their sizes differing by at most one; in order.

    A group of at most ``size`` items stays as it is (so on the CPU the batches are the configured
    ones). Cutting each configured batch on its own, rather than the shard's rows as a whole, keeps
    every batch the same whichever shard computes it.
    """
    out = []
    for group in groups:
        parts = -(-len(group) // size)
        out += [list(group[i * len(group) // parts:(i + 1) * len(group) // parts]) for i in range(parts)]
    return out
