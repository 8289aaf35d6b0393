"""Keyed noise: every random number is a pure function of its key.

The uniform that draws token ``t`` of sample ``(problem_id, sample_idx)`` from a given
policy stream depends on nothing else (DESIGN.md §5). Plain generation, step-by-step
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
    h = _mix(torch.full_like(problem_id, seed))
    for part in (problem_id, sample_idx, position, torch.full_like(problem_id, stream)):
        h = _mix(h ^ part)
    return _shr(h, 11).double() * (1.0 / (1 << 53))


def sample_inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Draw one token id per row of ``probs`` [B, V] with uniforms ``u`` [B].

    Inverse CDF in token-id order, accumulated in float64; zero-probability tokens are
    never drawn and the rows need not be normalised.
    """
    cdf = probs.double().cumsum(dim=-1)
    target = (u.double() * cdf[:, -1]).unsqueeze(-1)
    idx = torch.searchsorted(cdf, target, right=True).squeeze(-1)
    return idx.clamp_(max=probs.shape[-1] - 1)
