"""Divergence-weighted advantages (the paper's §4 and App. A.7): Ã_t = w_t · Â_t per token.

Pure tensor functions, free of any trainer, so TRL (and verl on a cluster) call the same code:

- :func:`k3`: the per-token KL estimate on sampled tokens, r − log r − 1 with r the probability
  ratio of the two policies, written ``expm1(d) − d`` (d = log r) so that it stays exact near 0,
  with d clamped to ±:data:`K3_LOG_RATIO_BOUND` first, as verl clamps it, so that a token one
  policy all but excludes gives a large finite KL rather than inf (and inf − inf = NaN later);
- weightings by name in :data:`WEIGHTINGS`: ``none`` (w = 1), ``sigmoid`` (Eq. 5,
  w = 1 + s·(σ(α·KL) − ½), bounded by construction) and ``linear_relative`` (Eq. 7,
  w = 1 + α·(KL − the sequence's mean KL), clipped to [0, :data:`LINEAR_RELATIVE_MAX_WEIGHT`]:
  at 0 so that a weight never turns an advantage's sign, above so that one outlying token cannot
  take over the update);
- α by rollout step comes from :class:`tokenshift.training.alpha.AlphaSchedule`.

The sign of α follows Eq. 5: α > 0 boosts high-KL tokens, α < 0 boosts low-KL tokens. (The
paper's text gives +50 for its low-KL run too, which contradicts its Eq. 5.) Weights carry no
gradient: every weighting returns a detached tensor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tokenshift.registry import Registry

Weighting = Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor]
WEIGHTINGS: Registry[Weighting] = Registry("weighting")
K3_LOG_RATIO_BOUND = 20.0  # |log r| at most this in k3 (verl's clamp): k3 < e^20 ≈ 4.9e8, finite in float32 and bf16
LINEAR_RELATIVE_MAX_WEIGHT = 10.0  # the largest linear-relative weight: ten times a token's plain advantage


def k3(logp: torch.Tensor, logp_ref: torch.Tensor) -> torch.Tensor:
    """k3 estimate of KL(ref ‖ π) per sampled token (tokens drawn from ref): r − log r − 1, r = π/ref,
    with log r clamped to ±K3_LOG_RATIO_BOUND so that the estimate stays finite."""
    d = (logp - logp_ref).clamp(-K3_LOG_RATIO_BOUND, K3_LOG_RATIO_BOUND)
    return torch.expm1(d) - d


@WEIGHTINGS.register("none")
def no_weighting(kl: torch.Tensor, mask: torch.Tensor, alpha: float, s: float) -> torch.Tensor:
    """w = 1: the unweighted baseline."""
    return torch.ones_like(kl)


@WEIGHTINGS.register("sigmoid")
def sigmoid_weighting(kl: torch.Tensor, mask: torch.Tensor, alpha: float, s: float) -> torch.Tensor:
    """Eq. 5: w = 1 + s·(σ(α·KL) − ½), in (1 − s/2, 1 + s/2); w = 1 where α = 0 or s = 0."""
    return (1 + s * (torch.sigmoid(alpha * kl.detach()) - 0.5)) * mask + (1 - mask)


@WEIGHTINGS.register("linear_relative")
def linear_relative_weighting(kl: torch.Tensor, mask: torch.Tensor, alpha: float, s: float) -> torch.Tensor:
    """Eq. 7: w = 1 + α·(KL − mean KL of the sequence's tokens), clipped to [0, LINEAR_RELATIVE_MAX_WEIGHT];
    ``s`` is unused.

    Clipped at 0: a negative weight would turn a token's advantage around, rewarding what the
    group penalised; at 0 the token just drops out of the update. Bounded above: unlike the
    sigmoid, Eq. 7 grows without limit in KL, and one token with a huge KL would otherwise carry
    the whole sequence's gradient.
    """
    kl = kl.detach()
    mean = (kl * mask).sum(-1, keepdim=True) / mask.sum(-1, keepdim=True).clamp(min=1)
    return (1 + alpha * (kl - mean)).clamp(0, LINEAR_RELATIVE_MAX_WEIGHT) * mask + (1 - mask)


def token_weights(name: str, kl: torch.Tensor, mask: torch.Tensor, alpha: float, s: float) -> torch.Tensor:
    """Weights [B, T] of weighting ``name`` (1 on padding), detached from the graph."""
    return WEIGHTINGS.get(name)(kl, mask.to(kl.dtype), alpha, s).detach()
