"""DAPO training of the organism with TRL's GRPOTrainer (clip-higher, token-level loss, no KL)."""

from __future__ import annotations

from pathlib import Path

from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

from tokenshift.data.organism import Problem, verify
from tokenshift.errors import UserError


def correctness_reward(completions: list[str], answer: list[str], **_) -> list[float]:
    """Verifiable reward: 1 if the marked final answer is right, else 0."""
    return [1.0 if verify(c, a) else 0.0 for c, a in zip(completions, answer)]


def dapo_config(cfg: dict, out_dir: Path, seed: int) -> GRPOConfig:
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
        max_completion_length=cfg["max_completion_length"], temperature=cfg["temperature"], top_p=1.0,
        mask_truncated_completions=True, save_strategy="steps", save_steps=cfg["save_every"],
        save_only_model=True, logging_steps=10, report_to="none", use_cpu=True,
        seed=seed, data_seed=seed, dataloader_num_workers=0, disable_dropout=True, bf16=False,
        remove_unused_columns=False,
    )


def train_dapo(model_dir: str | Path, problems: list[Problem], cfg: dict, out_dir: str | Path,
               checkpoint_dir: str | Path, seed: int) -> None:
    """Train from ``model_dir``; final model to ``out_dir``, intermediate ones in ``checkpoint_dir``."""
    from tokenshift.models.loading import load_model, load_tokenizer

    tok = load_tokenizer(model_dir)
    model = load_model(model_dir)
    model.train()
    data = Dataset.from_list([{"prompt": p.prompt, "answer": str(p.answer)} for p in problems])
    args = dapo_config(cfg, Path(checkpoint_dir), seed)
    trainer = GRPOTrainer(model=model, reward_funcs=correctness_reward, args=args, train_dataset=data,
                          processing_class=tok)
    trainer.train()
    trainer.model.eval()
    trainer.model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))
