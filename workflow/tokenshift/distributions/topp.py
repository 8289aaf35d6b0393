"""Top-p (nucleus) truncation shared by sampling, divergence and cross-sampling.

One definition for every consumer, so the distribution a token is drawn from is the
very distribution whose divergence is measured.
"""

from __future__ import annotations

import torch

from tokenshift.errors import UserError


def top_p_mask(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Boolean mask of the nucleus along the last dim.

    Tokens are sorted by descending probability with ties broken by ascending token id
    (stable sort); the shortest prefix whose mass reaches ``top_p`` is kept, and at
    least one token always is. ``top_p >= 1`` keeps the full vocabulary.
    """
    if not 0.0 < top_p:
        raise UserError(f"top_p must be in (0, 1], got {top_p}")
    if top_p >= 1.0:
        return torch.ones_like(probs, dtype=torch.bool)
    sorted_p, order = probs.sort(dim=-1, descending=True, stable=True)
    mass_before = sorted_p.cumsum(dim=-1) - sorted_p
    keep_sorted = mass_before < top_p
    keep_sorted[..., 0] = True
    return torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)


def truncate_top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Top-p truncated and renormalised copy of ``probs`` (same shape and dtype)."""
    if top_p >= 1.0:
        return probs
    kept = probs * top_p_mask(probs, top_p)
    return kept / kept.sum(dim=-1, keepdim=True)
