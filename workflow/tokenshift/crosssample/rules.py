"""Switching rules S(x_<t): when the intervention policy draws the token (paper §3.1).

A rule sees the top-p truncated next-token distributions of both policies at a batch of
positions and returns (fires, score). ``score`` is what the switch record stores (the
divergence the rule thresholds). Rules are pure functions of distributions and keys, so
the step-by-step and the fast engine take identical decisions. Targeted rules register in
:data:`RULES` by the name ``crosssample.rule`` uses; eps is checked once, by the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from tokenshift.crosssample.variants import RULES
from tokenshift.distributions.divergences import js_divergence, kl_divergence
from tokenshift.distributions.keyed import STREAM_RANDOM_SWITCH, keyed_uniform

Measure = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class _Threshold:
    """Switch where ``measure(p~_prim, p~_int) > eps``; subclasses name the divergence."""

    eps: float
    measure: ClassVar[Measure]

    def __call__(self, prim: torch.Tensor, inter: torch.Tensor, problem_ids: torch.Tensor,
                 sample_idx: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        score = type(self).measure(prim, inter)
        return score > self.eps, score


@RULES.register("js")
class JSThreshold(_Threshold):
    """The paper's rule: switch where JS(p~_prim, p~_int) > eps."""

    measure = staticmethod(js_divergence)


@RULES.register("kl")
class KLThreshold(_Threshold):
    """Switch where KL(pi_prim || pi_int) > eps: the rule of the sequence-level bound (App. A.6)."""

    measure = staticmethod(kl_divergence)


@dataclass(frozen=True)
class RandomPositions:
    """Random baseline (App. A.5): switch at keyed-random positions with probability ``rate``.

    The decision uses its own noise stream, so it is independent of both draws; the score
    recorded is the targeted rule's divergence, to compare random and targeted switches.
    """

    seed: int
    rate: float
    measure: Measure = js_divergence

    def __call__(self, prim: torch.Tensor, inter: torch.Tensor, problem_ids: torch.Tensor,
                 sample_idx: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        u = keyed_uniform(self.seed, problem_ids, sample_idx, positions, STREAM_RANDOM_SWITCH)
        return (u < self.rate).to(prim.device), self.measure(prim, inter)
