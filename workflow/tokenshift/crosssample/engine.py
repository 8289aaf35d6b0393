"""Entry point of cross-sampling on one batch: prefill, dispatch to the spec's engine, pass counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tokenshift.crosssample.context import Context
from tokenshift.crosssample.spec import CrossSpec
from tokenshift.crosssample.state import BatchState, CrossResult
from tokenshift.crosssample.variants import ENGINES
from tokenshift.generation.sampler import left_pad
from tokenshift.models.decoding import Decoder


@dataclass
class EngineStats:
    """Sequential forward passes (prefill included) and tokens, for the pass-count benchmark."""

    passes: int = 0
    steps: int = 0  # longest response per batch, summed: sequential token steps
    tokens: int = 0
    chunk_sizes: list[int] = field(default_factory=list)  # verified chunks of the fast engine

    def add(self, other: EngineStats) -> None:
        self.passes += other.passes
        self.steps += other.steps
        self.tokens += other.tokens
        self.chunk_sizes.extend(other.chunk_sizes)


@torch.no_grad()
def cross_sample_batch(primary: torch.nn.Module, intervention: torch.nn.Module, vocab_size: int,
                       prompt_ids: list[list[int]], problem_ids: torch.Tensor, sample_idx: torch.Tensor,
                       spec: CrossSpec, eos_id: int, pad_id: int, budget: int | list[int] | None = None,
                       prefixes: list[list[int]] | None = None,
                       stop_when_spent: bool = False) -> tuple[list[CrossResult], EngineStats]:
    """Cross-sample one response per row; position t of a row uses the keys (seed, problem, sample, t).

    ``budget`` (per row, or one for all) defaults to the spec's largest. ``prefixes`` force
    each row's first response tokens (a fork of a longer run); they get no switch records
    and the budget counts only later switches. ``stop_when_spent`` ends each row at the switch that
    spends its budget (finish reason ``handover``; see :class:`BatchState`).
    """
    budget = spec.max_budget if budget is None else budget
    budgets = [budget] * len(prompt_ids) if isinstance(budget, int) else list(budget)
    prefixes = prefixes if prefixes is not None else [[] for _ in prompt_ids]
    ctx = Context.build(spec.sampling, spec.switch_rule(), spec.intervention_stream, problem_ids, sample_idx)
    state = BatchState(prefixes, torch.tensor(budgets), spec.sampling.max_new_tokens, eos_id, pad_id,
                       stop_when_spent)
    ids, mask = left_pad([p + x for p, x in zip(prompt_ids, prefixes)], pad_id)
    dec_p = Decoder(primary, vocab_size)
    lp = dec_p.prefill(ids, mask)
    # Not prefilled here: the fast engine prefills it together with its first verified chunk.
    dec_i = Decoder(intervention, vocab_size, home=dec_p.device) if bool(state.can_switch().any()) else None
    start = state.t.clone()
    sizes = ENGINES.get(spec.engine)(dec_p, dec_i, lp, (ids, mask), state, ctx, spec.chunk_policy)
    new = state.t - start
    stats = EngineStats(dec_p.passes + (dec_i.passes if dec_i else 0), int(new.max()) if len(new) else 0,
                        int(new.sum()), sizes)
    return state.results(), stats
