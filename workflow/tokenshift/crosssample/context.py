"""What both engines need to turn logits into decisions: sampling params, keys, rule, noise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from tokenshift.distributions.draw import keyed_draw, policy_probs
from tokenshift.distributions.keyed import STREAM_INTERVENTION, STREAM_PRIMARY
from tokenshift.errors import UserError
from tokenshift.generation.sampler import SamplingParams

# Noise stream of the intervention draw: its own (the paper's setting) or the primary's.
NOISE_STREAMS = {"independent": STREAM_INTERVENTION, "shared": STREAM_PRIMARY}

Rule = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class Context:
    params: SamplingParams
    rule: Rule
    noise: str
    problem_ids: torch.Tensor  # [B]
    sample_idx: torch.Tensor  # [B]

    def __post_init__(self) -> None:
        if self.noise not in NOISE_STREAMS:
            raise UserError(f"noise must be one of {sorted(NOISE_STREAMS)}, got {self.noise!r}")

    def truncated(self, logits: torch.Tensor) -> torch.Tensor:
        """Top-p truncated distribution at the sampling temperature: what tokens are drawn from."""
        return policy_probs(logits, self.params.temperature, self.params.top_p)[1]

    def draw(self, probs: torch.Tensor, positions: torch.Tensor, intervention: bool, repeat: int = 1) -> torch.Tensor:
        """Keyed draws for rows of ``probs``; with ``repeat`` > 1 rows are [B * repeat] row-major."""
        stream = NOISE_STREAMS[self.noise] if intervention else STREAM_PRIMARY
        pid, sid = self.problem_ids.repeat_interleave(repeat), self.sample_idx.repeat_interleave(repeat)
        return keyed_draw(probs, self.params.seed, pid, sid, positions.reshape(-1), stream).cpu()

    def decide(self, prim: torch.Tensor, inter: torch.Tensor, positions: torch.Tensor,
               repeat: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(fires, score) of the switching rule for rows laid out as in :meth:`draw`."""
        pid, sid = self.problem_ids.repeat_interleave(repeat), self.sample_idx.repeat_interleave(repeat)
        fires, score = self.rule(prim, inter, pid, sid, positions.reshape(-1))
        return fires.cpu(), score.double().cpu()
