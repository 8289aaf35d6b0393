"""What both engines need to turn logits into decisions: sampling params, keyed noise, rule, stream."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from tokenshift.crosssample.variants import NOISE
from tokenshift.distributions.draw import policy_probs
from tokenshift.distributions.keyed import STREAM_INTERVENTION, STREAM_PRIMARY, KeyedNoise, sample_inverse_cdf
from tokenshift.generation.sampler import SamplingParams

# Noise stream of the intervention draw: its own (the paper's setting) or the primary's.
NOISE.register("independent")(STREAM_INTERVENTION)
NOISE.register("shared")(STREAM_PRIMARY)

Rule = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Context:
    """One batch's decision inputs; rows are those of the engine's :class:`BatchState`."""

    params: SamplingParams
    rule: Rule
    intervention_stream: int
    problem_ids: torch.Tensor  # [B]
    sample_idx: torch.Tensor  # [B]
    noise: KeyedNoise

    @classmethod
    def build(cls, params: SamplingParams, rule: Rule, intervention_stream: int, problem_ids: torch.Tensor,
              sample_idx: torch.Tensor) -> Context:
        pid, sid = problem_ids.long().cpu(), sample_idx.long().cpu()
        return cls(params, rule, intervention_stream, pid, sid,
                   KeyedNoise(params.seed, pid, sid, params.max_new_tokens))

    def truncated(self, logits: torch.Tensor) -> torch.Tensor:
        """Top-p truncated distribution at the sampling temperature: what tokens are drawn from."""
        return policy_probs(logits, self.params.temperature, self.params.top_p)[1]

    def uniforms(self, positions: torch.Tensor, intervention: bool) -> torch.Tensor:
        """Keyed uniforms of each row at ``positions`` [B] or [B, g], from the policy's stream."""
        return self.noise.at(positions, self.intervention_stream if intervention else STREAM_PRIMARY)

    def draw(self, probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF draws from the rows of ``probs`` with uniforms ``u`` (one per row, any shape)."""
        return sample_inverse_cdf(probs, u.reshape(-1).to(probs.device)).cpu().view(u.shape)

    def decide(self, prim: torch.Tensor, inter: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor,
                                                                                                   torch.Tensor]:
        """(fires, score) of the switching rule at ``positions`` [B] or [B, g], shaped like them."""
        g = positions.shape[1] if positions.dim() == 2 else 1
        pid, sid = self.problem_ids.repeat_interleave(g), self.sample_idx.repeat_interleave(g)
        fires, score = self.rule(prim, inter, pid, sid, positions.reshape(-1))
        return fires.cpu().view(positions.shape), score.double().cpu().view(positions.shape)
