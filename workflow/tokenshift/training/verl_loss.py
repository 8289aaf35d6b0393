"""The divergence-weighted advantages as a verl policy loss, for cluster-scale runs.

verl (its own environment: it pins an older transformers) picks a policy loss by name from its
registry; importing this module registers ``tokenshift_weighted``. verl imports it in every
process, Ray workers included, when the environment names it::

    VERL_USE_EXTERNAL_MODULES=tokenshift.training.verl_loss
    actor_rollout_ref.actor.policy_loss.loss_mode=tokenshift_weighted

The loss forms KL_old per token (k3 of the current policy against the one that sampled the batch,
as the TRL trainer does), turns it into weights with the same :mod:`tokenshift.training.weighting`
functions, and hands ``w · Â`` to verl's own clipped loss (``vanilla``: clip-higher, the loss
aggregation and every metric stay verl's). Settings come from the environment, because verl's
policy-loss config has a fixed set of fields:

- ``TOKENSHIFT_WEIGHTING``: JSON ``{"weighting": ..., "s": ..., "alpha": {start_alpha, end_alpha,
  start, ramp}}``, the keys of a ``train_variants`` entry;
- ``TOKENSHIFT_LOSS_CALLS_PER_ROLLOUT``: how many times verl calls the loss per rollout step
  (ppo_epochs × mini-batches × micro-batches per mini-batch), which turns the call count into the
  rollout step of the α schedule.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch

from tokenshift.errors import UserError
from tokenshift.training.alpha import AlphaSchedule
from tokenshift.training.weighting import WEIGHTINGS, k3, token_weights

LOSS_NAME = "tokenshift_weighted"


@dataclass
class WeightedLoss:
    """verl's clipped policy loss on weighted advantages; counts its calls to know the rollout step."""

    weighting: str
    s: float
    alpha: AlphaSchedule
    calls_per_rollout: int
    calls: int = field(default=0)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WeightedLoss:
        env = dict(os.environ if env is None else env)
        try:
            settings = json.loads(env.get("TOKENSHIFT_WEIGHTING", '{"weighting": "none"}'))
            calls = int(env.get("TOKENSHIFT_LOSS_CALLS_PER_ROLLOUT", "1"))
        except ValueError as err:
            raise UserError(f"TOKENSHIFT_WEIGHTING / TOKENSHIFT_LOSS_CALLS_PER_ROLLOUT: {err}") from None
        if calls < 1:
            raise UserError(f"TOKENSHIFT_LOSS_CALLS_PER_ROLLOUT must be >= 1, got {calls}")
        name = settings.get("weighting", "none")
        WEIGHTINGS.get(name)  # an unknown name fails here, listing the known ones
        return cls(name, float(settings.get("s", 0.3)), AlphaSchedule(**settings.get("alpha", {})), calls)

    def rollout_step(self) -> int:
        return self.calls // self.calls_per_rollout

    def __call__(self, old_log_prob: torch.Tensor, log_prob: torch.Tensor, advantages: torch.Tensor,
                 response_mask: torch.Tensor, loss_agg_mode: str = "token-mean", config: Any = None,
                 rollout_is_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        from verl.trainer.ppo.core_algos import get_policy_loss_fn

        mask = response_mask.to(log_prob.dtype)
        kl = k3(log_prob.detach(), old_log_prob)
        w = token_weights(self.weighting, kl, mask, self.alpha(self.rollout_step()), self.s)
        self.calls += 1
        loss, metrics = get_policy_loss_fn("vanilla")(
            old_log_prob=old_log_prob, log_prob=log_prob, advantages=advantages * w, response_mask=response_mask,
            loss_agg_mode=loss_agg_mode, config=config, rollout_is_weights=rollout_is_weights)
        on = response_mask.bool()
        metrics = dict(metrics)
        metrics.update({"tokenshift/kl_old_mean": float(kl[on].mean()) if on.any() else 0.0,
                        "tokenshift/weights_mean": float(w[on].mean()) if on.any() else 1.0,
                        "tokenshift/weights_moved_share": float((w[on] != 1).float().mean()) if on.any() else 0.0})
        return loss, metrics


def register() -> WeightedLoss:
    """Register the loss (settings from the environment) in verl's policy-loss registry."""
    from verl.trainer.ppo.core_algos import register_policy_loss

    loss = WeightedLoss.from_env()
    register_policy_loss(LOSS_NAME)(loss)
    return loss


try:  # verl imports this module by name; elsewhere (the project's own environment) it is inert
    import verl.trainer.ppo.core_algos  # noqa: F401
except ImportError:
    pass
else:
    register()
