"""Keyed noise: every random number is a pure function of its key.

The uniform that draws token ``t`` of sample ``(problem_id, sample_idx)`` from a given
policy stream depends on nothing else. Plain generation, step-by-step
cross-sampling and the fast engine therefore draw the same token whenever they see the
same distribution, which is what makes "fast == reference" and "budget 0 == plain
generation" exact, testable statements.
"""

from __future__ import annotations

import torch

# Policy streams: which model's draw a uniform belongs to.
STREAM_PRIMARY = 1
STREAM_INTERVENTION = 2
STREAM_RANDOM_SWITCH = 3

_M1 = 0xBF58476D1CE4E5B9 - (1 << 64)  # splitmix64 multipliers as signed int64
_M2 = 0x94D049BB133111EB - (1 << 64)
_GOLDEN = 0x9E3779B97F4A7C15 - (1 << 64)


def _shr(x: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (x >> k) & ((1 << (64 - k)) - 1)


def _mix(x: torch.Tensor) -> torch.Tensor:
    """splitmix64 finaliser on int64 tensors (wrapping arithmetic)."""
    x = x + _GOLDEN
    x = (x ^ _shr(x, 30)) * _M1
    x = (x ^ _shr(x, 27)) * _M2
    return x ^ _shr(x, 31)


def row_keys(seed: int, problem_id: torch.Tensor, sample_idx: torch.Tensor) -> torch.Tensor:
    """The position-independent part of the key hash, per element of the broadcast inputs.

    Decoding loops compute it once per batch; :func:`keyed_uniform_at` then costs two mixes
    per draw instead of five, with bit-identical results.
    """
    problem_id, sample_idx = torch.broadcast_tensors(problem_id.long(), sample_idx.long())
    h = _mix(torch.full_like(problem_id, seed))
    return _mix(_mix(h ^ problem_id) ^ sample_idx)


def keyed_uniform_at(keys: torch.Tensor, position: torch.Tensor, stream: int) -> torch.Tensor:
    """Uniforms in [0, 1) (float64) for :func:`row_keys` ``keys`` at ``position`` (broadcast)."""
    h = _mix(_mix(keys ^ position.long()) ^ stream)
    return _shr(h, 11).double() * (1.0 / (1 << 53))


def keyed_uniform(
    seed: int,
    problem_id: torch.Tensor,
    sample_idx: torch.Tensor,
    position: torch.Tensor,
    stream: int,
) -> torch.Tensor:
    """Uniforms in [0, 1) as float64, one per element of the broadcast key tensors."""
    problem_id, sample_idx, position = torch.broadcast_tensors(
        problem_id.long(), sample_idx.long(), position.long()
    )
    return keyed_uniform_at(row_keys(seed, problem_id, sample_idx), position, stream)


class KeyedNoise:
    """Every uniform a batch of rows can use, as [rows, positions] tables built once per stream.

    Decoding gathers the uniforms of a step (or a chunk of steps) from the table instead of
    hashing per step. Positions at or beyond ``width`` are clamped: no caller commits a
    token there, it only drafts one that is discarded.
    """

    def __init__(self, seed: int, problem_id: torch.Tensor, sample_idx: torch.Tensor, width: int):
        self.keys = row_keys(seed, problem_id.long().cpu(), sample_idx.long().cpu()).unsqueeze(1)
        self.width = width
        self._tables: dict[int, torch.Tensor] = {}

    def table(self, stream: int) -> torch.Tensor:
        """Uniforms [rows, width] of ``stream``."""
        if stream not in self._tables:
            self._tables[stream] = keyed_uniform_at(self.keys, torch.arange(self.width), stream)
        return self._tables[stream]

    def at(self, position: torch.Tensor, stream: int) -> torch.Tensor:
        """Uniforms of each row at its ``position`` [B] or positions [B, g]."""
        tab = self.table(stream)
        idx = position.long().clamp(max=self.width - 1)
        return tab.gather(1, idx.reshape(len(tab), -1)).reshape(idx.shape)


def sample_inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Draw one token id per row of ``probs`` [B, V] with uniforms ``u`` [B].

    Inverse CDF in token-id order, accumulated in float64; zero-probability tokens are
    never drawn and the rows need not be normalised.
    """
    cdf = probs.double().cumsum(dim=-1)
    target = (u.double() * cdf[:, -1]).unsqueeze(-1)
    idx = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    return idx.clamp_(max=probs.shape[-1] - 1)
