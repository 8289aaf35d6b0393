"""Incremental decoding of a ragged batch with a KV cache that can take back tokens.

Rows are left-padded prompts. Every call appends slots to the cache; slots whose token
is not part of a row's sequence (padding, finished rows, drafted tokens rejected later)
are masked out of attention and given no position, so the cache never has to be copied
or cropped per row. This is what lets the fast cross-sampling engine draft, verify and
roll back a batch whose rows accept different numbers of tokens.
"""

from __future__ import annotations

import torch
from transformers import DynamicCache


class Decoder:
    """One model's decoding state over a batch of rows."""

    def __init__(self, model: torch.nn.Module, vocab_size: int, home: torch.device | None = None):
        """``home``: the device logits are returned on (default the model's), so two models on two GPUs
        can be compared."""
        self.model = model
        self.vocab_size = vocab_size
        self.device = next(model.parameters()).device
        self.home = home or self.device
        self.cache = DynamicCache()
        self.attn: torch.Tensor | None = None  # [B, slots] 1 = slot is part of the row
        self.next_pos: torch.Tensor | None = None  # [B] position id of the next token
        self.passes = 0  # sequential forward passes, for the pass-count benchmark

    @torch.no_grad()
    def _run(self, ids: torch.Tensor, valid: torch.Tensor, pos: torch.Tensor, keep: int = 0) -> torch.Tensor:
        """Logits of the last ``keep`` columns (0: all); a prompt's other columns are never read, and
        at a real vocabulary their output layer would cost more than the rest of the prefill."""
        start = 0 if self.attn is None else self.attn.shape[1]
        self.attn = valid.long() if self.attn is None else torch.cat([self.attn, valid.long()], dim=1)
        cache_position = torch.arange(start, start + ids.shape[1], device=self.device)
        out = self.model(
            input_ids=ids, attention_mask=self.attn, position_ids=pos.clamp(min=0),
            past_key_values=self.cache, cache_position=cache_position, use_cache=True, logits_to_keep=keep,
        )
        self.passes += 1
        return out.logits[..., : self.vocab_size].to(self.home)

    def prefill(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Feed left-padded prompts; returns next-token logits [B, V]."""
        pos = attention_mask.long().cumsum(dim=1) - 1
        logits = self._run(input_ids.to(self.device), attention_mask.to(self.device), pos.to(self.device), keep=1)
        self.next_pos = attention_mask.long().sum(dim=1).to(self.device)
        return logits[:, -1]

    def prefill_extend(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, tokens: torch.Tensor,
                       valid: torch.Tensor) -> torch.Tensor:
        """:meth:`prefill` then :meth:`extend` with ``tokens`` [B, C], in one forward pass.

        Returns logits [B, C + 1, V]: after the prompt, then after each appended token. The
        cache ends up exactly as after the two calls (same slots, positions and mask), so
        the fast cross-sampling engine can verify its first chunk without a separate prefill.
        """
        dev = self.device
        mask = torch.cat([attention_mask.long().to(dev), valid.long().to(dev)], dim=1)
        pos = mask.cumsum(dim=1) - 1
        logits = self._run(torch.cat([input_ids.to(dev), tokens.to(dev)], dim=1), mask, pos,
                           keep=tokens.shape[1] + 1)
        self.next_pos = mask.sum(dim=1)
        return logits

    def extend(self, tokens: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Append ``tokens`` [B, C] (only where ``valid``); returns logits [B, C, V].

        Logits at column j predict the token after column j of that row.
        """
        valid = valid.to(self.device)
        pos = self.next_pos.unsqueeze(1) + valid.long().cumsum(dim=1) - 1
        logits = self._run(tokens.to(self.device), valid, pos)
        self.next_pos = self.next_pos + valid.long().sum(dim=1)
        return logits

    def retract(self, n_keep: torch.Tensor, n_last: int) -> None:
        """Of the last ``n_last`` appended slots, keep only the first ``n_keep[b]`` valid ones per row."""
        tail = self.attn[:, -n_last:]
        rank = tail.cumsum(dim=1)
        keep = (tail == 1) & (rank <= n_keep.unsqueeze(1).to(self.device))
        self.next_pos = self.next_pos - (tail.sum(dim=1) - keep.long().sum(dim=1))
        self.attn[:, -n_last:] = keep.long()
