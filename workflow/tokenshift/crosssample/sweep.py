"""Budget sweeps with shared prefixes.

A run with budget b equals the run with the largest budget K up to the position of the
K-run's (b+1)-th switch, where budget b is exhausted; from there it is a primary-only
completion. So one K-run plus a forked primary-only completion per (row, smaller budget)
whose row switched more than b times yields every budget exactly, and budgets above a
row's natural switch count cost nothing.

With ``crosssample.tail: vllm`` the forks are not decoded here: each (row, budget) whose
budget is spent stops at its handover, the position right after the switch that spends it
(0 at budget 0), and keeps its tokens so far, which are those of the ``tail: hf`` sweep
token for token; the tail phase (:mod:`.tail`) decodes the rest with vLLM. A row that never
spends its budget is finished here, as with ``tail: hf``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from tokenshift.crosssample.engine import EngineStats, cross_sample_batch
from tokenshift.crosssample.spec import CrossSpec
from tokenshift.crosssample.state import CrossResult
from tokenshift.generation.sampler import batches


@dataclass
class SweepStats:
    """Costs of a sweep, and the fork positions that tell how much sharing can save."""

    full: EngineStats = field(default_factory=EngineStats)
    forks: EngineStats = field(default_factory=EngineStats)
    fork_positions: list[int] = field(default_factory=list)
    n_forks: int = 0

    def add(self, other: SweepStats) -> None:
        self.full.add(other.full)
        self.forks.add(other.forks)
        self.fork_positions.extend(other.fork_positions)
        self.n_forks += other.n_forks


def fork_plan(results: list[CrossResult], budgets: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(row, budget, fork position) for every row that switched more than ``budget`` times."""
    plan = []
    for b in budgets[:-1]:
        for r, res in enumerate(results):
            if res.n_switches > b:
                plan.append((r, b, res.switches[b].position))
    return plan


def handover_position(result: CrossResult, budget: int) -> int:
    """Where a row at ``budget`` turns into plain sampling from the primary: right after the switch that
    spends the budget (identity swaps count), 0 at budget 0, the row's length if it never spends it."""
    if budget == 0:
        return 0
    if result.n_switches >= budget:
        return result.switches[budget - 1].position + 1
    return len(result.response_ids)


def handover_batch(primary: torch.nn.Module, intervention: torch.nn.Module, vocab_size: int,
                   prompt_ids: list[list[int]], problem_ids: torch.Tensor, sample_idx: torch.Tensor,
                   spec: CrossSpec, eos_id: int, pad_id: int) -> tuple[dict[int, list[CrossResult]], SweepStats]:
    """Results per budget up to each row's handover (finish reason ``handover``; the rest is the tail
    phase's), from one largest-budget run whose rows stop where that budget is spent."""
    stats = SweepStats()
    if spec.max_budget == 0:
        return {0: [CrossResult([], "handover") for _ in prompt_ids]}, stats
    full, st = cross_sample_batch(primary, intervention, vocab_size, prompt_ids, problem_ids, sample_idx, spec,
                                  eos_id, pad_id, stop_when_spent=True)
    stats.full.add(st)

    def cut(res: CrossResult, b: int) -> CrossResult:
        if b > 0 and (b == spec.max_budget or res.n_switches <= b):
            return res  # as decoded: stopped at the largest budget's handover, or finished without spending b
        return CrossResult(res.response_ids[:handover_position(res, b)], "handover", res.switches[:b])

    return {b: [cut(res, b) for res in full] for b in spec.budgets}, stats


def sweep_batch(primary: torch.nn.Module, intervention: torch.nn.Module, vocab_size: int,
                prompt_ids: list[list[int]], problem_ids: torch.Tensor, sample_idx: torch.Tensor,
                spec: CrossSpec, eos_id: int, pad_id: int,
                fork_batch_size: int | None = None) -> tuple[dict[int, list[CrossResult]], SweepStats]:
    """Results per budget of ``spec.budgets`` for one batch of rows, from one largest-budget run plus forks
    (with ``spec.tail == "vllm"``, up to each row's handover: :func:`handover_batch`)."""
    if spec.tail == "vllm":
        return handover_batch(primary, intervention, vocab_size, prompt_ids, problem_ids, sample_idx, spec,
                              eos_id, pad_id)
    stats = SweepStats()
    full, st = cross_sample_batch(primary, intervention, vocab_size, prompt_ids, problem_ids, sample_idx, spec,
                                  eos_id, pad_id)
    stats.full.add(st)
    out = {b: list(full) for b in spec.budgets}
    plan = fork_plan(full, spec.budgets)
    stats.n_forks = len(plan)
    stats.fork_positions = [p for _, _, p in plan]
    size = fork_batch_size or max(1, len(prompt_ids))
    for part in batches(plan, size):
        rows = [r for r, _, _ in part]
        prefixes = [full[r].response_ids[:p] for r, _, p in part]
        forked, st = cross_sample_batch(primary, intervention, vocab_size, [prompt_ids[r] for r in rows],
                                        problem_ids[rows], sample_idx[rows], spec, eos_id, pad_id, budget=0,
                                        prefixes=prefixes)
        stats.forks.add(st)
        for (r, b, _), res in zip(part, forked):
            out[b][r] = CrossResult(res.response_ids, res.finish_reason, full[r].switches[:b])
    return out, stats
