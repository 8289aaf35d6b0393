"""From logits to a drawn token: temperature, top-p, keyed inverse-CDF draw."""

from __future__ import annotations

import torch

from tokenshift.distributions.keyed import keyed_uniform, sample_inverse_cdf
from tokenshift.distributions.topp import truncate_top_p
from tokenshift.errors import UserError


def policy_softmax(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Full softmax at ``temperature`` in float32 or wider (the first half of :func:`policy_probs`)."""
    if temperature <= 0:
        raise UserError(f"temperature must be > 0, got {temperature}")
    work = logits if logits.dtype == torch.float64 else logits.float()
    if temperature != 1.0:  # x / 1 == x: skip a vocabulary-sized pass
        work = work / temperature
    return torch.softmax(work, dim=-1)


def policy_probs(logits: torch.Tensor, temperature: float, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(full softmax at ``temperature``, its top-p truncation), in float32 or wider."""
    probs = policy_softmax(logits, temperature)
    return probs, truncate_top_p(probs, top_p)


def keyed_draw(probs: torch.Tensor, seed: int, problem_id: torch.Tensor, sample_idx: torch.Tensor,
               position: torch.Tensor, stream: int) -> torch.Tensor:
    """Token ids [B] drawn from rows of ``probs`` with the uniforms of their keys."""
    u = keyed_uniform(seed, problem_id, sample_idx, position, stream)
    return sample_inverse_cdf(probs, u.to(probs.device))
