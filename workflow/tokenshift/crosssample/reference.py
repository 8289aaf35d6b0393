"""Step-by-step cross-sampling: the reference the fast engine must match token for token.

Each step runs both models on the committed prefix (two sequential forward passes per
token), evaluates the switching rule and draws from the chosen policy, exactly as
Algorithm 1 of the paper (App. A.5) with a budget.
"""

from __future__ import annotations

import torch

from tokenshift.crosssample.context import Context
from tokenshift.crosssample.fast import ChunkPolicy
from tokenshift.crosssample.state import BatchState
from tokenshift.crosssample.variants import ENGINES
from tokenshift.models.decoding import Decoder


@ENGINES.register("naive")
@torch.no_grad()
def run_reference(dec_p: Decoder, dec_i: Decoder | None, lp: torch.Tensor, prompt: tuple[torch.Tensor, torch.Tensor],
                  state: BatchState, ctx: Context, chunk: ChunkPolicy) -> list[int]:
    """Decode until every row is done; ``lp`` are the primary's prefill logits, ``prompt`` the
    left-padded (ids, mask) that the intervention model (if any row can switch) prefills first.

    The intervention model stops being run once no row can switch any more (budgets are
    monotone), so budget 0 costs exactly what plain generation costs. ``chunk`` is unused
    (one step at a time); no chunks are verified, so the returned list is empty.
    """
    li = dec_i.prefill(*prompt) if dec_i is not None else None
    while not bool(state.done.all()):
        active = ~state.done
        pos = state.t.unsqueeze(1)  # [B, 1]: a chunk of one step
        prim = ctx.truncated(lp)
        prim_tok = ctx.draw(prim, ctx.uniforms(pos, intervention=False))
        if li is not None and bool(state.can_switch().any()):
            inter = ctx.truncated(li)
            int_tok = ctx.draw(inter, ctx.uniforms(pos, intervention=True))
            fires, score = ctx.decide(prim, inter, pos)
        else:
            int_tok, fires = prim_tok, torch.zeros_like(prim_tok, dtype=torch.bool)
            score = torch.zeros(prim_tok.shape, dtype=torch.float64)
        state.commit(prim_tok, int_tok, fires, score, active)
        if bool(state.done.all()):
            break
        tok = torch.where(active, state.last_tokens(), torch.full_like(state.t, state.pad_id)).unsqueeze(1)
        lp = dec_p.extend(tok, active.unsqueeze(1))[:, 0]
        li = dec_i.extend(tok, active.unsqueeze(1))[:, 0] if li is not None and bool(state.can_switch().any()) \
            else None
    return []
