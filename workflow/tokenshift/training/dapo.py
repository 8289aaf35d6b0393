"""DAPO training with TRL's GRPOTrainer (clip-higher, token-level loss, no KL), from any causal LM.

Prompts arrive rendered (chat template already applied by the dataset stage), and the reward is
the dataset's grader, so the organism and a pretrained model train through the same code.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from tokenshift.errors import UserError
from tokenshift.evaluation.graders import grade


def correctness_reward(grader: str):
    """Verifiable reward of ``grader``: 1 for a correct final answer, else 0 (unparsed answers too)."""

    def reward(completions: list[str], answer: list[str], **_) -> list[float]:
        return [1.0 if ok else 0.0 for ok in grade(grader, completions, answer).correct]

    reward.__name__ = f"{grader}_correct"  # TRL logs each reward function under its name
    return reward


def dapo_config(cfg: dict, out_dir: Path, seed: int, device: str = "cpu") -> GRPOConfig:
    """GRPOConfig for DAPO: several optimiser steps per rollout batch so the clip matters."""
    per_step = cfg["prompts_per_step"] * cfg["generations"]
    if per_step % cfg["steps_per_generation"]:
        raise UserError(f"train_rl: prompts_per_step * generations ({per_step}) must be divisible by "
                        f"steps_per_generation ({cfg['steps_per_generation']})")
    return GRPOConfig(
        output_dir=str(out_dir), max_steps=cfg["steps"], learning_rate=cfg["lr"],
        lr_scheduler_type="constant_with_warmup", warmup_steps=cfg["warmup"],
        loss_type="dapo", epsilon=cfg["epsilon"], epsilon_high=cfg["epsilon_high"], beta=cfg["beta"],
        num_generations=cfg["generations"], steps_per_generation=cfg["steps_per_generation"],
        per_device_train_batch_size=per_step // cfg["steps_per_generation"],
        max_completion_length=cfg["max_completion_length"], temperature=cfg["temperature"], top_p=cfg["top_p"],
        mask_truncated_completions=cfg["mask_truncated"], save_strategy="steps", save_steps=cfg["save_every"],
        save_only_model=True, logging_steps=1, report_to="none", use_cpu=device == "cpu",
        seed=seed, data_seed=seed, dataloader_num_workers=0, disable_dropout=True, bf16=False,
        remove_unused_columns=False, gradient_checkpointing=False,  # TRL turns it on; recomputing costs time on CPU
    )


def train_dapo(model_dir: str | Path, data: pl.DataFrame, grader: str, cfg: dict, out_dir: str | Path,
               checkpoint_dir: str | Path, seed: int, device: str = "auto", trust_remote_code: bool = False) -> None:
    """Train from ``model_dir`` on the prompts of ``data`` (rendered prompt, answer); final model to
    ``out_dir``, intermediate ones in ``checkpoint_dir``."""
    from tokenshift.models.device import resolve_device
    from tokenshift.models.loading import load_model, load_tokenizer

    target = resolve_device(device)
    tok = load_tokenizer(model_dir, trust_remote_code)
    model = load_model(model_dir, device=str(target), trust_remote_code=trust_remote_code)
    model.train()
    rows = Dataset.from_dict({"prompt": data["prompt"].to_list(), "answer": data["answer"].to_list()})
    args = dapo_config(cfg, Path(checkpoint_dir), seed, target.type)
    trainer = GRPOTrainer(model=model, reward_funcs=correctness_reward(grader), args=args, train_dataset=rows,
                          processing_class=tok)
    trainer.train()
    trainer.model.eval()
    trainer.model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))
