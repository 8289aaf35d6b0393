"""The weighted GRPO trainer on a tiny real model with TRL: the weights reach the loss as a per-token
factor, move after the first mini-batch of each rollout (so (k - 1)/k of the updates weigh anything at
k mini-batches per rollout), and setups that make them vanish are refused."""

from __future__ import annotations

import polars as pl
import pytest
import torch
from conftest import save_tiny_model
from datasets import Dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.errors import UserError
from tokenshift.evaluation.variants import kl_old_nonzero_share
from tokenshift.models.loading import load_model, load_tokenizer
from tokenshift.training.alpha import AlphaSchedule
from tokenshift.training.weighted import WeightedGRPOTrainer, informative_rows
from tokenshift.training.weighting import k3, token_weights
from trl import GRPOConfig


def length_reward(completions: list[str], **_) -> list[float]:
    """Any reward that differs within a group gives non-zero advantages."""
    return [float(len(c) % 3) for c in completions]


def some_groups_flat_reward(completions: list[str], prompts: list[str], **_) -> list[float]:
    """Equal rewards within the groups of two of the four prompts (zero-variance groups), varied elsewhere."""
    return [1.0 if p.startswith(("12", "7")) else float(len(c) % 3) for c, p in zip(completions, prompts)]


def make_trainer(tmp_path, weighting="sigmoid", steps_per_generation=2, max_steps=4, reward=length_reward,
                 dynamic_sampling=False):
    model_dir = save_tiny_model(tmp_path / "m", seed=0)
    tok = load_tokenizer(model_dir)
    args = GRPOConfig(output_dir=str(tmp_path / "out"), max_steps=max_steps, learning_rate=5e-3, loss_type="dapo",
                      num_generations=4, per_device_train_batch_size=4, steps_per_generation=steps_per_generation,
                      max_completion_length=6, logging_steps=1, report_to="none", use_cpu=True, seed=0,
                      save_strategy="no", remove_unused_columns=False, gradient_checkpointing=False, bf16=False,
                      disable_dropout=True)
    data = Dataset.from_dict({"prompt": ["12+3=", "7+8=", "40+2=", "9+9="] * 4})
    return WeightedGRPOTrainer(model=load_model(model_dir), reward_funcs=reward, args=args, train_dataset=data,
                               processing_class=tok, weighting=weighting, alpha=AlphaSchedule(end_alpha=50.0), s=0.3,
                               dynamic_sampling=dynamic_sampling)


def test_weights_move_after_the_first_mini_batch_of_each_rollout(tmp_path):
    trainer = make_trainer(tmp_path)
    trainer.train()
    moved = [h["weights/moved_share"] for h in trainer.state.log_history if "weights/moved_share" in h]
    assert len(moved) == 4
    assert moved[0] == moved[2] == 0.0  # right after a rollout the policy is the sampling one: KL_old = 0
    assert moved[1] > 0 and moved[3] > 0


@pytest.mark.parametrize("k", [2, 4])
def test_all_but_the_first_update_of_each_rollout_have_nonzero_kl_old(tmp_path, k):
    """With steps_per_generation k, KL_old is 0 on the first of each rollout's k updates only, so the
    share that tables/training_variants.* reports is (k - 1)/k (the paper's 16 mini-batches: 15/16)."""
    trainer = make_trainer(tmp_path, steps_per_generation=k, max_steps=2 * k)
    trainer.train()
    log = pl.DataFrame([h for h in trainer.state.log_history if "loss" in h])  # one row per update, as metrics.csv
    assert log.height == 2 * k
    assert [kl > 0 for kl in log["kl_old/mean"]] == ([False] + [True] * (k - 1)) * 2
    assert kl_old_nonzero_share(log) == pytest.approx((k - 1) / k)


def test_weighted_loss_is_the_unweighted_loss_scaled_per_token(tmp_path):
    trainer = make_trainer(tmp_path)
    model = trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    torch.manual_seed(0)
    b, p, t, vocab = 2, 3, 5, len(trainer.processing_class)
    completion = torch.randint(0, vocab, (b, t))
    inputs = {"prompt_ids": torch.randint(0, vocab, (b, p)), "prompt_mask": torch.ones(b, p, dtype=torch.long),
              "completion_ids": completion, "completion_mask": torch.ones(b, t, dtype=torch.long),
              "advantages": torch.tensor([1.0, -0.5]), "num_items_in_batch": torch.tensor(float(b * t))}
    ids = torch.cat([inputs["prompt_ids"], completion], 1)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[:, p - 1:-1]
        current = torch.log_softmax(logits.float(), -1).gather(-1, completion.unsqueeze(-1)).squeeze(-1)
    inputs["old_per_token_logps"] = current + 0.05 * torch.randn(b, t)  # a policy that has moved a little
    w = token_weights("sigmoid", k3(current, inputs["old_per_token_logps"]), inputs["completion_mask"], 50.0, 0.3)
    assert bool((w != 1).all())

    def parent(advantages):
        return float(super(WeightedGRPOTrainer, trainer)._compute_loss(model, {**inputs, "advantages": advantages}))

    weighted = float(trainer._compute_loss(model, inputs))
    base = inputs["advantages"].unsqueeze(1).expand(b, t)
    assert weighted == pytest.approx(parent(base * w), rel=1e-5)
    per_token = sum(w[i, j] * parent(base * torch.eye(b * t)[i * t + j].view(b, t)) for i in range(b) for j in range(t))
    assert weighted == pytest.approx(float(per_token), rel=1e-4)


def test_a_setup_without_kl_old_is_refused_before_training(tmp_path):
    with pytest.raises(UserError, match="steps_per_generation >= 2"):
        make_trainer(tmp_path, steps_per_generation=1)


def test_a_weighted_run_whose_weights_never_move_fails(tmp_path):
    trainer = make_trainer(tmp_path, max_steps=1)  # one update: the first mini-batch, where KL_old = 0
    with pytest.raises(UserError, match="every weight stayed 1"):
        trainer.train()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.sampled_from([0.0, 1.0]), min_size=4, max_size=4), min_size=1, max_size=6))
def test_informative_rows_are_the_groups_with_unequal_rewards(groups):
    rewards = torch.tensor(groups)
    advantages = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).flatten()
    expect = [len(set(g)) > 1 for g in groups for _ in g]
    assert informative_rows(advantages, 4).tolist() == expect


def test_dynamic_sampling_drops_exactly_the_zero_variance_groups(tmp_path):
    trainer = make_trainer(tmp_path, weighting="none", reward=some_groups_flat_reward, dynamic_sampling=True)
    trainer.train()
    logged = [h for h in trainer.state.log_history if "dynamic_sampling/dropped_share" in h]
    assert logged and all(h["dynamic_sampling/dropped_share"] == h["frac_reward_zero_std"] for h in logged)
    assert all(h["dynamic_sampling/dropped_share"] >= 0.5 for h in logged)  # two of four prompts at least
