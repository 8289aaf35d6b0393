"""Step-by-step cross-sampling: the reference every faster engine must match token for token.

Each step runs both models on the committed prefix (two sequential forward passes per
token), evaluates the switching rule and draws from the chosen policy, exactly as
Algorithm 1 of the paper (App. A.5) with a budget.
"""

from __future__ import annotations

import torch

from tokenshift.crosssample.context import Context
from tokenshift.crosssample.state import BatchState
from tokenshift.models.decoding import Decoder


@torch.no_grad()
def run_reference(dec_p: Decoder, dec_i: Decoder | None, lp: torch.Tensor, li: torch.Tensor | None,
                  state: BatchState, ctx: Context) -> None:
    """Decode until every row is done; ``lp``/``li`` are the prefill logits of each model.

    The intervention model stops being run once no row can switch any more (budgets are
    monotone), so budget 0 costs exactly what plain generation costs.
    """
    while not bool(state.done.all()):
        active = ~state.done
        prim = ctx.truncated(lp)
        prim_tok = ctx.draw(prim, state.t, intervention=False)
        can = state.can_switch()
        switched = torch.zeros_like(can)
        int_tok, score = prim_tok, torch.zeros(len(prim_tok), dtype=torch.float64)
        if li is not None and bool(can.any()):
            inter = ctx.truncated(li)
            int_tok = ctx.draw(inter, state.t, intervention=True)
            fires, score = ctx.decide(prim, inter, state.t)
            switched = can & fires
        tok = torch.where(switched, int_tok, prim_tok)
        tok = torch.where(active, tok, torch.full_like(tok, state.pad_id))
        state.commit(tok, active, switched, prim_tok, int_tok, score)
        if bool(state.done.all()):
            break
        lp = dec_p.extend(tok.unsqueeze(1), active.unsqueeze(1))[:, 0]
        if li is not None and bool(state.can_switch().any()):
            li = dec_i.extend(tok.unsqueeze(1), active.unsqueeze(1))[:, 0]
        else:
            li = None
