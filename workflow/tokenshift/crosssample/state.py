"""Per-row bookkeeping shared by both cross-sampling engines: tokens, budgets, switch records.

Both engines commit tokens through :meth:`BatchState.commit`, so "what counts as a switch,
an effective switch, the end of a row" is written once and the engines differ only in how
they obtain the two policies' distributions. (The tests compare both with a per-token loop
written apart from this code.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass(frozen=True)
class Switch:
    """One position where the intervention policy drew the token."""

    position: int
    score: float  # the rule's divergence (JS for the paper's rules)
    primary_token: int  # what the primary would have drawn there with its own stream
    intervention_token: int  # what was drawn (and kept)

    @property
    def effective(self) -> bool:
        """An identity swap (same token) is counted toward the budget but is not effective."""
        return self.primary_token != self.intervention_token


@dataclass
class CrossResult:
    """One response: ids including the final EOS, why it stopped, and every switch in order."""

    response_ids: list[int]
    finish_reason: str
    switches: list[Switch] = field(default_factory=list)

    @property
    def n_switches(self) -> int:
        return len(self.switches)

    @property
    def n_effective(self) -> int:
        return sum(s.effective for s in self.switches)


class BatchState:
    """Committed tokens of a ragged batch; rows may start from a forced prefix with its own budget.

    With ``stop_when_spent`` a row stops right after the switch that spends a budget > 0 (its
    ``finish_reason`` is then ``handover``): what follows is plain sampling from the primary,
    which another engine can decode (the two-phase sweep of ``crosssample.tail: vllm``).
    """

    def __init__(self, prefixes: list[list[int]], budgets: torch.Tensor, max_new_tokens: int,
                 eos_id: int, pad_id: int, stop_when_spent: bool = False):
        b = len(prefixes)
        self.stop_when_spent = stop_when_spent
        self.max_new_tokens = max_new_tokens
        self.eos_id = eos_id
        self.pad_id = pad_id
        self.out = torch.full((b, max_new_tokens), pad_id, dtype=torch.long)
        for i, p in enumerate(prefixes):
            self.out[i, : len(p)] = torch.tensor(p, dtype=torch.long)
        self.t = torch.tensor([len(p) for p in prefixes], dtype=torch.long)
        ends_eos = torch.tensor([bool(p) and p[-1] == eos_id for p in prefixes], dtype=torch.bool)
        self.done = (self.t >= max_new_tokens) | ends_eos
        self.budget = budgets.long().clone()
        self.n_switches = torch.zeros(b, dtype=torch.long)
        self.n_effective = torch.zeros(b, dtype=torch.long)  # per row, this call only
        self.n_new = torch.zeros(b, dtype=torch.long)  # tokens committed per row, this call only
        self.switches: list[list[Switch]] = [[] for _ in range(b)]
        self.handed_over = torch.zeros(b, dtype=torch.bool)

    def can_switch(self) -> torch.Tensor:
        """Rows still generating with budget left."""
        return ~self.done & (self.n_switches < self.budget)

    def commit(self, draft: torch.Tensor, proposed: torch.Tensor, fires: torch.Tensor, score: torch.Tensor,
               active: torch.Tensor) -> torch.Tensor:
        """Commit each active row's next tokens from a chunk of g steps; returns tokens taken per row.

        ``draft`` [B, g] are the primary's keyed draws, ``proposed`` the intervention's,
        ``fires`` where the rule fires and ``score`` its divergence. Step j switches where the
        rule fires and the row has budget left after the switches of steps < j (identity
        swaps count). A row takes steps up to and including the first that ends it (EOS or
        ``max_new_tokens``) or that is an effective switch, after which the primary's later
        drafts were drawn from the wrong prefix. One step (g = 1) is the reference engine.
        """
        g = draft.shape[1]
        earlier = fires.long().cumsum(dim=1) - fires.long()
        switched = fires & ((self.n_switches.unsqueeze(1) + earlier) < self.budget.unsqueeze(1))
        tok = torch.where(switched, proposed, draft)
        effective = switched & (proposed != draft)
        ends = (tok == self.eos_id) | ((self.t.unsqueeze(1) + torch.arange(1, g + 1)) >= self.max_new_tokens)
        spent = torch.zeros_like(ends)
        if self.stop_when_spent:
            count = self.n_switches.unsqueeze(1) + switched.long().cumsum(dim=1)
            spent = switched & (count == self.budget.unsqueeze(1)) & (self.budget.unsqueeze(1) > 0) & ~ends
        stops = (ends | effective | spent).long()
        live = active.unsqueeze(1) & ((stops.cumsum(dim=1) - stops) == 0)  # no stop at an earlier step
        taken = live.sum(dim=1)
        cols = torch.arange(g).expand_as(live)
        self.out[live.nonzero(as_tuple=True)[0], (self.t.unsqueeze(1) + cols)[live]] = tok[live]
        kept = switched & live
        if bool(kept.any()):
            rows, js = kept.nonzero(as_tuple=True)
            records = zip(rows.tolist(), (self.t[rows] + js).tolist(), score[rows, js].tolist(),
                          draft[rows, js].tolist(), proposed[rows, js].tolist())
            for r, pos, sc, prim_tok, int_tok in records:
                self.switches[r].append(Switch(pos, sc, prim_tok, int_tok))
            self.n_switches += kept.sum(dim=1)
            self.n_effective += (effective & live).sum(dim=1)
        self.n_new += taken
        handover = (spent & live).any(dim=1)
        self.handed_over |= handover
        self.done = self.done | (ends & live).any(dim=1) | handover
        self.t = self.t + taken
        return taken

    def last_tokens(self) -> torch.Tensor:
        """The most recently committed token per row (pad for rows with none)."""
        idx = (self.t - 1).clamp(min=0)
        last = self.out.gather(1, idx.unsqueeze(1)).squeeze(1)
        return torch.where(self.t > 0, last, torch.full_like(last, self.pad_id))

    def results(self) -> list[CrossResult]:
        """One :class:`CrossResult` per row, in row order."""
        out = []
        for i, row in enumerate(self.out.tolist()):
            n = int(self.t[i])
            ids = row[:n]
            reason = "handover" if self.handed_over[i] else "stop" if ids and ids[-1] == self.eos_id else "length"
            out.append(CrossResult(ids, reason, self.switches[i]))
        return out
