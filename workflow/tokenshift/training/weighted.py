"""TRL's GRPOTrainer with divergence-weighted advantages (the paper's §4): Ã_t = w_t · Â_t.

Before each loss, the current policy's log-probabilities of the sampled tokens are recomputed
without gradient; KL_old (k3 against the policy that sampled the batch, TRL's
``old_per_token_logps``) gives the weights of :mod:`tokenshift.training.weighting`, and the parent's
loss runs on (B, T) advantages ``A[:, None] * w``. So a weighted loss is the unweighted loss with
each token's term scaled by w, and everything else (clipping, loss aggregation) stays TRL's.

KL_old exists only when TRL keeps the sampling policy's log-probabilities, i.e. when a rollout
serves several optimiser steps (``steps_per_generation × num_iterations`` does not divide the
gradient accumulation steps); otherwise it would be 0 everywhere and every w = 1, so such a setup
is refused. Even then KL_old is 0 on the first mini-batch after each rollout (nothing has moved
yet). Each update logs the KL's mean and 95th percentile, w's mean, min and max, and the share of
tokens with w ≠ 1; a weighted run whose weights never moved fails at the end instead of
passing as weighted.

DAPO's dynamic sampling (``dynamic_sampling=True``): a group whose rollouts all earned the same
reward has zero advantages and teaches nothing, yet under DAPO's token-level loss its tokens still
count in the normaliser and dilute every other token's update. Such groups are dropped from the
loss (their completion mask is zeroed and the token count recomputed). DAPO also refills the batch
with freshly sampled groups until it is full; here the batch shrinks instead.
"""

from __future__ import annotations

import torch
from trl import GRPOTrainer

from tokenshift.errors import UserError
from tokenshift.training.alpha import AlphaSchedule
from tokenshift.training.weighting import k3, token_weights

CONSTANT_ZERO = AlphaSchedule()  # α = 0: weights of 1


def check_weighting_setup(weighting: str, steps_per_generation: int, num_iterations: int,
                          gradient_accumulation_steps: int) -> None:
    """Refuse a weighted run in which TRL would not keep the sampling policy's log-probabilities."""
    every = steps_per_generation * num_iterations
    if weighting != "none" and gradient_accumulation_steps % every == 0:
        raise UserError(f"weighting {weighting!r} needs KL to the sampling policy, which is 0 everywhere when "
                        f"steps_per_generation x num_iterations ({every}) divides the gradient accumulation steps "
                        f"({gradient_accumulation_steps}); use steps_per_generation >= 2")


def informative_rows(advantages: torch.Tensor, group: int) -> torch.Tensor:
    """Rows whose group (``group`` consecutive rollouts of one prompt) has any nonzero advantage.

    A group's advantages are all 0 exactly when its rewards are all equal (group-normalised
    advantages of unequal rewards cannot all vanish)."""
    return (advantages.reshape(-1, group) != 0).any(dim=1).repeat_interleave(group)


class WeightedGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose advantages are scaled per token by a divergence weighting (``none`` = plain)."""

    def __init__(self, *args, weighting: str = "none", alpha: AlphaSchedule = CONSTANT_ZERO, s: float = 0.0,
                 dynamic_sampling: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.dynamic_sampling = dynamic_sampling
        check_weighting_setup(weighting, self.args.steps_per_generation, self.num_iterations,
                              self.args.gradient_accumulation_steps)
        self.weighting, self.alpha, self.s = weighting, alpha, s
        self.updates_with_moved_weights = 0

    def rollout_step(self) -> int:
        """Rollouts done so far: the α schedule counts these, not optimiser steps."""
        return self.state.global_step // (self.args.steps_per_generation * self.num_iterations)

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        if self.dynamic_sampling:
            keep = informative_rows(out["advantages"], self.num_generations)
            out["completion_mask"] = out["completion_mask"] * keep.unsqueeze(1).to(out["completion_mask"].dtype)
            out["num_items_in_batch"] = self.accelerator.gather(out["completion_mask"].sum()).sum()
            mode = "train" if self.model.training else "eval"
            self._metrics[mode]["dynamic_sampling/dropped_share"].append(1.0 - float(keep.float().mean()))
        return out

    def _compute_loss(self, model, inputs):
        if self.weighting == "none":
            return super()._compute_loss(model, inputs)
        completion_ids = inputs["completion_ids"]
        mask = inputs["completion_mask"]
        input_ids = torch.cat([inputs["prompt_ids"], completion_ids], dim=1)
        attention = torch.cat([inputs["prompt_mask"], mask], dim=1)
        with torch.no_grad():
            current, _, _ = self._get_per_token_logps_and_entropies(model, input_ids, attention,
                                                                    completion_ids.size(1))
        kl = k3(current, inputs["old_per_token_logps"])
        w = token_weights(self.weighting, kl, mask, self.alpha(self.rollout_step()), self.s)
        self._log_weights(kl, w, mask.bool())
        advantages = inputs["advantages"]
        advantages = advantages.unsqueeze(1) if advantages.dim() == 1 else advantages
        return super()._compute_loss(model, {**inputs, "advantages": advantages * w})

    def _log_weights(self, kl: torch.Tensor, w: torch.Tensor, mask: torch.Tensor) -> None:
        kl_t, w_t = kl[mask].float(), w[mask].float()
        if kl_t.numel() == 0:
            return
        moved = float((w_t != 1).float().mean())
        self.updates_with_moved_weights += moved > 0
        metrics = self._metrics["train" if self.model.training else "eval"]
        for key, value in (("kl_old/mean", kl_t.mean()), ("kl_old/p95", torch.quantile(kl_t, 0.95)),
                           ("weights/mean", w_t.mean()), ("weights/min", w_t.min()), ("weights/max", w_t.max()),
                           ("weights/moved_share", moved)):
            metrics[key].append(float(value))

    def train(self, *args, **kwargs):
        out = super().train(*args, **kwargs)
        if self.weighting != "none" and self.updates_with_moved_weights == 0:
            raise UserError(f"weighting {self.weighting!r}: every weight stayed 1 over the whole run (KL_old was 0 "
                            "or alpha never left 0), so this was not a weighted run")
        return out
