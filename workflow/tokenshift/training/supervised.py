"""Supervised fine-tuning of a causal LM on prompt/solution pairs (loss on the solution only).

Used twice: the base model from scratch on imperfect solutions, and the SFT comparison
model from the base on correct ones. A plain loop: the organism is small enough that the
data is made on the fly from a seeded RNG and a step is a few milliseconds.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable

import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

from tokenshift.data.organism import Problem, solution
from tokenshift.generation.sampler import encode_prompt


def make_batch(tokenizer: PreTrainedTokenizerBase,
               pairs: list[tuple[str, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded input ids, attention mask and labels (-100 outside the solution + EOS)."""
    seqs, labels = [], []
    for prompt, target in pairs:
        p = encode_prompt(tokenizer, prompt)
        t = tokenizer.encode(target, add_special_tokens=False) + [tokenizer.eos_token_id]
        seqs.append(p + t)
        labels.append([-100] * len(p) + t)
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), tokenizer.pad_token_id, dtype=torch.long)
    lab = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (s, lb) in enumerate(zip(seqs, labels)):
        ids[i, : len(s)] = torch.tensor(s)
        lab[i, : len(s)] = torch.tensor(lb)
        mask[i, : len(s)] = 1
    return ids, mask, lab


def warmup_cosine(step: int, total: int, warmup: int) -> float:
    """Learning-rate multiplier: linear warmup, then cosine decay to 10%."""
    if step < warmup:
        return (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))


def train_sft(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, problems: list[Problem], steps: int,
              batch_size: int, lr: float, warmup: int, slip_prob: float, seed: int, log: Iterable | None = None,
              on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Train in place; each batch draws problems and (possibly slipped) solutions from a seeded RNG."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, steps, warmup))
    losses = []
    bar = tqdm(range(steps), desc="sft", file=log, mininterval=10)
    for step in bar:
        batch = [rng.choice(problems) for _ in range(batch_size)]
        ids, mask, labels = make_batch(tokenizer, [(p.prompt, solution(p, rng, slip_prob)) for p in batch])
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if step % 100 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if on_step:
                on_step(step, loss.item())
    model.eval()
    return losses
