"""Divergences between next-token distributions batched over rows.

Cross-sampling decides every switch with these, and the per-token dump reports them, so
there is one definition: inputs are (already top-p truncated) probability rows along the
last dim, natural log, and ``0 log 0 = 0``.
"""

from __future__ import annotations

import math

import torch

LN2 = math.log(2.0)


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence per row of ``p`` and ``q`` [..., V], in [0, ln 2].

    JS = 1/2 KL(p||m) + 1/2 KL(q||m) with m = (p + q)/2 over the union support; identical
    rows give exactly 0, so a threshold ``eps = 0`` never fires on identical models.
    """
    m = 0.5 * (p + q)
    kl_pm = (torch.xlogy(p, p) - torch.xlogy(p, m)).sum(dim=-1)
    kl_qm = (torch.xlogy(q, q) - torch.xlogy(q, m)).sum(dim=-1)
    return (0.5 * (kl_pm + kl_qm)).clamp(min=0.0, max=LN2)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p||q) per row [..., V]; +inf where p puts mass outside q's support."""
    ratio_terms = torch.xlogy(p, p) - torch.xlogy(p, q)
    outside = (p > 0) & (q <= 0)
    out = torch.where(outside, torch.zeros_like(ratio_terms), ratio_terms).sum(dim=-1).clamp(min=0.0)
    return torch.where(outside.any(dim=-1), torch.full_like(out, math.inf), out)
