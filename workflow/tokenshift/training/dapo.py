"""DAPO training with TRL's GRPOTrainer (clip-higher, token-level loss, no KL), from any causal LM.

Prompts arrive rendered (chat template already applied by the dataset stage), and the reward is
the dataset's grader, so the organism and a pretrained model train through the same code.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from datasets import Dataset
from trl import GRPOConfig

from tokenshift.errors import UserError
from tokenshift.evaluation.graders import grade
from tokenshift.training.alpha import AlphaSchedule
from tokenshift.training.weighted import WeightedGRPOTrainer


def correctness_reward(grader: str):
    """Verifiable reward of ``grader``: 1 for a correct final answer, else 0 (unparsed answers too)."""

    def reward(completions: list[str], answer: list[str], **_) -> list[float]:
        return [1.0 if ok else 0.0 for ok in grade(grader, completions, answer).correct]

    reward.__name__ = f"{grader}_correct"  # TRL logs each reward function under its name
    return reward


# A training variant with no changes: train_rl's own run.
PLAIN = {"weighting": "none", "s": 0.0, "alpha": {}, "loss_type": "dapo", "top_entropy_quantile": 1.0}


def dapo_config(cfg: dict, out_dir: Path, seed: int, device: str = "cpu", variant: dict = PLAIN,
                save: bool = True) -> GRPOConfig:
    """GRPOConfig for DAPO (several optimiser steps per rollout batch so the clip matters), with a
    training variant's changes: clip, KL penalty, loss type, entropy quantile."""
    per_step = cfg["prompts_per_step"] * cfg["generations"]
    if per_step % cfg["steps_per_generation"]:
        raise UserError(f"train_rl: prompts_per_step * generations ({per_step}) must be divisible by "
                        f"steps_per_generation ({cfg['steps_per_generation']})")
    return GRPOConfig(
        output_dir=str(out_dir), max_steps=cfg["steps"], learning_rate=cfg["lr"],
        lr_scheduler_type="constant_with_warmup", warmup_steps=cfg["warmup"],
        loss_type=variant["loss_type"], epsilon=cfg["epsilon"],
        epsilon_high=variant.get("epsilon_high", cfg["epsilon_high"]), beta=variant.get("beta", cfg["beta"]),
        top_entropy_quantile=variant["top_entropy_quantile"],
        num_generations=cfg["generations"], steps_per_generation=cfg["steps_per_generation"],
        per_device_train_batch_size=per_step // cfg["steps_per_generation"],
        max_completion_length=cfg["max_completion_length"], temperature=cfg["temperature"], top_p=cfg["top_p"],
        mask_truncated_completions=cfg["mask_truncated"], save_strategy="steps" if save else "no",
        save_steps=cfg["save_every"], save_only_model=True, logging_steps=1, report_to="none",
        use_cpu=device == "cpu", seed=seed, data_seed=seed, dataloader_num_workers=0, disable_dropout=True,
        bf16=False, remove_unused_columns=False,
        gradient_checkpointing=False,  # TRL turns it on; recomputing costs time on CPU
    )


def train_dapo(model_dir: str | Path, data: pl.DataFrame, grader: str, cfg: dict, out_dir: str | Path,
               checkpoint_dir: str | Path, seed: int, device: str = "auto", trust_remote_code: bool = False,
               variant: dict = PLAIN, save_checkpoints: bool = True) -> list[dict]:
    """Train from ``model_dir`` on the prompts of ``data`` (rendered prompt, answer); final model to
    ``out_dir``, intermediate ones in ``checkpoint_dir`` (with ``save_checkpoints``). Returns the
    trainer's log, one record per optimiser step."""
    from tokenshift.models.device import resolve_device
    from tokenshift.models.loading import load_model, load_tokenizer

    target = resolve_device(device)
    tok = load_tokenizer(model_dir, trust_remote_code)
    model = load_model(model_dir, device=str(target), trust_remote_code=trust_remote_code)
    model.train()
    rows = Dataset.from_dict({"prompt": data["prompt"].to_list(), "answer": data["answer"].to_list()})
    args = dapo_config(cfg, Path(checkpoint_dir), seed, target.type, variant, save_checkpoints)
    trainer = WeightedGRPOTrainer(model=model, reward_funcs=correctness_reward(grader), args=args,
                                  train_dataset=rows, processing_class=tok, weighting=variant["weighting"],
                                  alpha=AlphaSchedule(**variant["alpha"]), s=variant["s"],
                                  dynamic_sampling=variant.get("dynamic_sampling", cfg["dynamic_sampling"]))
    trainer.train()
    trainer.model.eval()
    trainer.model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))
    return [h for h in trainer.state.log_history if "step" in h and "loss" in h]
