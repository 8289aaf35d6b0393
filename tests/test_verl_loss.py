"""The verl adapter of the weighted advantages, against verl's real loss registry.

verl lives in its own environment (it pins an older transformers than the project), so these tests
carry the ``verl`` marker and run with ``make test-verl`` (CI runs it), not in the main test command.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.verl

WORKFLOW = str(Path(__file__).resolve().parents[1] / "workflow")


def actor_config():
    from verl.workers.config.actor import ActorConfig

    return ActorConfig(strategy="fsdp", ppo_mini_batch_size=4, ppo_micro_batch_size_per_gpu=4, rollout_n=1,
                       clip_ratio=0.2, clip_ratio_low=0.2, clip_ratio_high=0.28)


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    old = -torch.rand(4, 7, generator=g, dtype=torch.float64) * 3
    new = (old + 0.05 * torch.randn(4, 7, generator=g, dtype=torch.float64)).requires_grad_()
    adv = torch.randn(4, 1, generator=g, dtype=torch.float64).expand(4, 7).clone()
    mask = torch.ones(4, 7, dtype=torch.bool)
    mask[1, 5:] = False
    mask[3, 2:] = False
    return old, new, adv, mask


def loss_of(name: str, old, new, adv, mask):
    from verl.trainer.ppo.core_algos import get_policy_loss_fn

    loss, metrics = get_policy_loss_fn(name)(old_log_prob=old, log_prob=new, advantages=adv, response_mask=mask,
                                             loss_agg_mode="token-mean", config=actor_config())
    (grad,) = torch.autograd.grad(loss, new)
    return loss, grad, metrics


def test_environment_registers_the_loss_in_verls_registry():
    """VERL_USE_EXTERNAL_MODULES, verl's own hook for external code, registers the loss on ``import verl``."""
    env = {**os.environ, "VERL_USE_EXTERNAL_MODULES": "tokenshift.training.verl_loss", "PYTHONPATH": WORKFLOW,
           "TOKENSHIFT_WEIGHTING": json.dumps({"weighting": "sigmoid", "s": 0.3, "alpha": {"end_alpha": 50.0}})}
    code = ("import verl\nfrom verl.trainer.ppo.core_algos import get_policy_loss_fn\n"
            "fn = get_policy_loss_fn('tokenshift_weighted')\nprint(fn.weighting, fn.s, fn.alpha(0))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["sigmoid", "0.3", "50.0"]


def test_unweighted_loss_is_verls_vanilla_loss():
    from tokenshift.training.verl_loss import WeightedLoss

    old, new, adv, mask = batch()
    fn = WeightedLoss.from_env({})
    loss, metrics = fn(old, new, adv, mask, "token-mean", actor_config())
    (grad,) = torch.autograd.grad(loss, new)
    ref_loss, ref_grad, _ = loss_of("vanilla", old, new, adv, mask)
    assert torch.equal(loss, ref_loss) and torch.equal(grad, ref_grad)
    assert metrics["tokenshift/weights_moved_share"] == 0.0


@pytest.mark.parametrize("alpha", [40.0, -40.0])
def test_sigmoid_weighted_loss_is_vanilla_on_independently_weighted_advantages(alpha):
    """Eq. 5 on k3 (numpy), applied to the advantages, then verl's vanilla loss: same loss, same gradient
    (so no gradient flows through the weights)."""
    from tokenshift.training.verl_loss import WeightedLoss

    old, new, adv, mask = batch(1)
    fn = WeightedLoss.from_env({"TOKENSHIFT_WEIGHTING": json.dumps(
        {"weighting": "sigmoid", "s": 0.3, "alpha": {"start_alpha": alpha, "end_alpha": alpha}})})
    loss, metrics = fn(old, new, adv, mask, "token-mean", actor_config())
    (grad,) = torch.autograd.grad(loss, new)
    d = new.detach().numpy() - old.numpy()
    kl = np.exp(d) - 1 - d
    w = np.where(mask.numpy(), 1 + 0.3 * (1 / (1 + np.exp(-alpha * kl)) - 0.5), 1.0)
    ref_loss, ref_grad, _ = loss_of("vanilla", old, new, adv * torch.from_numpy(w), mask)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-14)
    assert metrics["tokenshift/weights_moved_share"] > 0


def test_alpha_follows_the_schedule_in_rollout_steps():
    from tokenshift.training.verl_loss import WeightedLoss

    fn = WeightedLoss.from_env({"TOKENSHIFT_WEIGHTING": json.dumps(
        {"weighting": "sigmoid", "s": 0.3, "alpha": {"end_alpha": 50.0, "start": 1, "ramp": 2}}),
        "TOKENSHIFT_LOSS_CALLS_PER_ROLLOUT": "3"})
    old, new, adv, mask = batch(2)
    alphas = []
    for _ in range(9):
        alphas.append(fn.alpha(fn.rollout_step()))
        fn(old, new, adv, mask, "token-mean", actor_config())
    assert alphas == [0.0] * 3 + [0.0] * 3 + [25.0] * 3


def test_bad_settings_fail_in_one_line():
    from tokenshift.errors import UserError
    from tokenshift.training.verl_loss import WeightedLoss

    with pytest.raises(UserError, match="unknown weighting 'cubic'"):
        WeightedLoss.from_env({"TOKENSHIFT_WEIGHTING": '{"weighting": "cubic"}'})
    with pytest.raises(UserError, match="CALLS_PER_ROLLOUT must be >= 1"):
        WeightedLoss.from_env({"TOKENSHIFT_LOSS_CALLS_PER_ROLLOUT": "0"})
    with pytest.raises(UserError, match="TOKENSHIFT_WEIGHTING"):
        WeightedLoss.from_env({"TOKENSHIFT_WEIGHTING": "{not json"})


PAPER_CONFIG = Path(__file__).resolve().parents[1] / "config/paper/verl/qwen2.5-math-7b-highkl.yaml"


def paper_config():
    """The Qwen2.5-Math-7B launch config composed onto verl's own trainer config, as main_ppo composes it."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(PAPER_CONFIG.parent), version_base=None):
        return compose(config_name=PAPER_CONFIG.stem)


def test_paper_launch_config_passes_verls_own_validation():
    """What ``python -m verl.trainer.main_ppo`` checks before it starts Ray: verl's validate_config with the
    reference policy and critic main_ppo would build (batch sizes, micro-batches, the actor's own checks)."""
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    cfg = paper_config()
    auto_set_device(cfg)
    assert not need_reference_policy(cfg)  # DAPO: no KL to the reference, so no reference model
    with pytest.warns(UserWarning, match="Disabled critic"):  # GRPO: no critic either
        assert not need_critic(cfg)
    validate_config(config=cfg, use_reference_policy=False, use_critic=False)
    # and as it would be with a KL penalty to the base (a SimpleRL-like run), which loads a reference model
    validate_config(config=cfg, use_reference_policy=True, use_critic=False)


def test_paper_launch_config_has_dapos_dynamic_sampling():
    """DAPO's group filter, typed by verl's own AlgoConfig, on a metric the dapo reward manager reports, with
    rewards computed where the filter can read them (what verl's trainer checks when it builds its sampler)."""
    from verl.utils.config import omega_conf_to_dataclass

    cfg = paper_config()
    groups = omega_conf_to_dataclass(cfg.algorithm).filter_groups
    assert groups.enable and groups.metric == "acc" and groups.max_num_gen_batches > 0
    assert groups.max_inflight_gen_batches >= 1
    assert cfg.reward.reward_manager.name == "dapo"  # reports acc, the correctness before the overlong penalty
    assert not cfg.reward.reward_model.enable or cfg.reward.reward_model.enable_resource_pool


def test_paper_launch_config_composes_with_verls_and_states_its_loss_calls():
    """The launch config picks the weighted loss with the DAPO clip, and the loss-calls-per-rollout it tells
    users to export follows from its batch sizes."""
    import re

    from verl.utils.config import omega_conf_to_dataclass

    cfg = paper_config()
    actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor)
    assert actor.policy_loss.loss_mode == "tokenshift_weighted"
    assert (actor.clip_ratio_low, actor.clip_ratio_high, actor.optim.lr) == (0.2, 0.28, 1e-6)
    assert not actor.use_dynamic_bsz  # else the micro-batches, hence the loss calls, vary per step
    per_gpu = actor.ppo_mini_batch_size * cfg.actor_rollout_ref.rollout.n // cfg.trainer.n_gpus_per_node
    calls = actor.ppo_epochs * (cfg.data.train_batch_size // actor.ppo_mini_batch_size) * (
        per_gpu // actor.ppo_micro_batch_size_per_gpu)
    text = PAPER_CONFIG.read_text()
    stated = re.search(r"TOKENSHIFT_LOSS_CALLS_PER_ROLLOUT=(\d+)", text)
    assert stated and int(stated.group(1)) == calls
    settings = re.search(r"TOKENSHIFT_WEIGHTING='(.+)'", text)
    from tokenshift.training.verl_loss import WeightedLoss

    loss = WeightedLoss.from_env({"TOKENSHIFT_WEIGHTING": settings.group(1)})
    assert (loss.weighting, loss.alpha(100), loss.alpha(200)) == ("sigmoid", 0.0, 50.0)
