"""Entry point of cross-sampling on one batch: checks, prefill, dispatch to an engine, pass counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tokenshift.crosssample.context import Context, Rule
from tokenshift.crosssample.fast import DEFAULT_CHUNK, ChunkPolicy, run_fast
from tokenshift.crosssample.reference import run_reference
from tokenshift.crosssample.state import BatchState, CrossResult
from tokenshift.errors import UserError
from tokenshift.generation.sampler import SamplingParams, left_pad
from tokenshift.models.decoding import Decoder

ENGINES = ("fast", "naive")


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


def check_budget(budget: int) -> int:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise UserError(f"budget must be an integer >= 0, got {budget!r}")
    return budget


def check_engine(engine: str) -> str:
    if engine not in ENGINES:
        raise UserError(f"engine must be one of {ENGINES}, got {engine!r}")
    return engine


@torch.no_grad()
def cross_sample_batch(primary: torch.nn.Module, intervention: torch.nn.Module, vocab_size: int,
                       prompt_ids: list[list[int]], problem_ids: torch.Tensor, sample_idx: torch.Tensor,
                       params: SamplingParams, rule: Rule, budget: int | list[int], eos_id: int, pad_id: int,
                       engine: str = "fast", noise: str = "independent", prefixes: list[list[int]] | None = None,
                       chunk: ChunkPolicy = DEFAULT_CHUNK) -> tuple[list[CrossResult], EngineStats]:
    """Cross-sample one response per row; position t of a row uses the keys (seed, problem, sample, t).

    ``prefixes`` force each row's first response tokens (a fork of a longer run); they get
    no switch records and ``budget`` (per row, or one for all) counts only later switches.
    """
    check_engine(engine)
    budgets = [budget] * len(prompt_ids) if isinstance(budget, int) else list(budget)
    for b in budgets:
        check_budget(b)
    prefixes = prefixes if prefixes is not None else [[] for _ in prompt_ids]
    ctx = Context(params, rule, noise, problem_ids.long().cpu(), sample_idx.long().cpu())
    state = BatchState(prefixes, torch.tensor(budgets), params.max_new_tokens, eos_id, pad_id)
    ids, mask = left_pad([p + x for p, x in zip(prompt_ids, prefixes)], pad_id)
    dec_p = Decoder(primary, vocab_size)
    lp = dec_p.prefill(ids, mask)
    dec_i, li = None, None
    if bool(state.can_switch().any()):
        dec_i = Decoder(intervention, vocab_size)
        li = dec_i.prefill(ids, mask)
    start = state.t.clone()
    sizes = run_fast(dec_p, dec_i, lp, li, state, ctx, chunk) if engine == "fast" else []
    if engine != "fast":
        run_reference(dec_p, dec_i, lp, li, state, ctx)
    new = state.t - start
    stats = EngineStats(dec_p.passes + (dec_i.passes if dec_i else 0), int(new.max()) if len(new) else 0,
                        int(new.sum()), sizes)
    return state.results(), stats
