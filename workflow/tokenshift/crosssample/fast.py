"""Draft-and-verify cross-sampling: exact, and fewer sequential forward passes per token.

The primary drafts a chunk of gamma tokens with its own keyed draws (gamma passes); the
intervention model scores the whole chunk in one pass. Each row accepts its draft up to
the first *effective* switch, where the intervention's keyed draw replaces the drafted
token; an identity swap leaves the draft valid. Both KV caches are rolled back by masking
the rejected slots (:meth:`Decoder.retract`). Because every draw is a pure function of its
key and every decision of the distributions at its prefix, the output equals the
step-by-step reference token for token (up to floating-point rounding of chunked versus
one-token forward passes, which the tests remove by running in float64).

Invariant between chunks: both caches hold each row's committed tokens except the last
one, which is ``pending`` and is fed first in the next chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tokenshift.crosssample.context import Context
from tokenshift.crosssample.state import BatchState
from tokenshift.crosssample.variants import CHUNKS, ENGINES
from tokenshift.models.decoding import Decoder


@dataclass(frozen=True)
class ChunkPolicy:
    """How many tokens to draft per chunk: ``size`` (fixed policies), at most ``max_size``."""

    size: int = 4
    max_size: int = 16

    def gamma(self, n_effective: torch.Tensor, n_tokens: torch.Tensor) -> int:
        """Chunk size from per-row counts of effective switches and tokens (rows still switching)."""
        raise NotImplementedError


@CHUNKS.register("adaptive")
class AdaptiveChunks(ChunkPolicy):
    """The gamma in 1..``max_size`` that maximises expected accepted tokens per sequential pass,
    (1 - (1 - s)^g) / s / (g + 1), at the highest effective-switch rate s observed among the rows
    still switching (prior: 1 in 10 tokens). The batch finishes when its slowest row does, and a
    row is slowed by its own cuts, so the row that switches most sets the pace, not the batch
    average. Without any possible switch left, chunks are ``max_size`` long (pure primary decoding).
    """

    def gamma(self, n_effective: torch.Tensor, n_tokens: torch.Tensor) -> int:
        s = float(((n_effective.double() + 1.0) / (n_tokens.double() + 10.0)).max()) if len(n_tokens) else 0.1
        return max(range(1, self.max_size + 1), key=lambda g: (1.0 - (1.0 - s) ** g) / s / (g + 1.0))


@CHUNKS.register("fixed")
class FixedChunks(ChunkPolicy):
    """Always ``size`` tokens per verified chunk (``max_size`` once no row can switch)."""

    def gamma(self, n_effective: torch.Tensor, n_tokens: torch.Tensor) -> int:
        return self.size


@ENGINES.register("fast")
@torch.no_grad()
def run_fast(dec_p: Decoder, dec_i: Decoder | None, lp0: torch.Tensor, prompt: tuple[torch.Tensor, torch.Tensor],
             state: BatchState, ctx: Context, chunk: ChunkPolicy) -> list[int]:
    """Decode until every row is done, chunk by chunk; ``lp0`` are the primary's prefill logits.

    The intervention model (if any row can switch) reads the left-padded ``prompt`` (ids,
    mask) and the first chunk's drafts in one pass, saving a sequential pass per batch.
    Returns the size of every verified chunk, for the benchmark's record of the chunk policy.
    """
    pending: torch.Tensor | None = None
    sizes: list[int] = []
    verify = dec_i is not None
    while not bool(state.done.all()):
        active = ~state.done
        remaining = int((state.max_new_tokens - state.t)[active].max())
        if verify:
            can = state.can_switch()
            g = chunk.gamma(state.n_effective[can], state.n_new[can])
        else:
            g = chunk.max_size
        g = max(1, min(g, remaining))
        has_pending = pending is not None
        positions = state.t.unsqueeze(1) + torch.arange(g)  # [B, g]
        u = ctx.uniforms(positions, intervention=False)
        prim, drafts = [], []
        logits = lp0
        for j in range(g):
            if j > 0 or has_pending:
                fed = pending if j == 0 else drafts[-1]
                logits = dec_p.extend(fed.unsqueeze(1), active.unsqueeze(1))[:, 0]
            probs = ctx.truncated(logits)
            prim.append(probs)
            drafts.append(ctx.draw(probs, u[:, j]))
        draft = torch.stack(drafts, dim=1)  # [B, g]
        n_fed = g - 1 + int(has_pending)

        if verify:
            sizes.append(g)
            valid = active.unsqueeze(1).expand(-1, n_fed)
            if has_pending:
                logits_i = dec_i.extend(torch.cat([pending.unsqueeze(1), draft[:, : g - 1]], dim=1), valid)
            else:
                logits_i = dec_i.prefill_extend(*prompt, draft[:, : g - 1], valid)
            inter = ctx.truncated(logits_i[:, :g].flatten(0, 1))  # [B * g, V]
            prim_flat = torch.stack(prim, dim=1).flatten(0, 1)
            proposed = ctx.draw(inter, ctx.uniforms(positions, intervention=True))
            fires, score = ctx.decide(prim_flat, inter, positions)
        else:
            proposed, fires = draft, torch.zeros_like(draft, dtype=torch.bool)
            score = torch.zeros(draft.shape, dtype=torch.float64)

        taken = state.commit(draft, proposed, fires, score, active)
        if n_fed > 0:
            keep = (taken + int(has_pending) - 1).clamp(min=0)
            dec_p.retract(keep, n_fed)
            if verify:
                dec_i.retract(keep, n_fed)
        pending = state.last_tokens()
        verify = verify and bool(state.can_switch().any())
    return sizes
