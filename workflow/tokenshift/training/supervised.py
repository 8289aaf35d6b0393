"""Supervised fine-tuning of a causal LM on prompt/solution pairs (loss on the solution only).

Used twice: the organism's base model from scratch on imperfect solutions, and the SFT
comparison model from the base (the organism, or a pretrained model) on reference solutions.
A plain loop; each batch is drawn from a seeded RNG, and the organism's solutions are made on
the fly from the same RNG (a slipped carry is a draw), so a run is reproducible step by step.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import polars as pl
import torch
from tqdm import tqdm
from transformers import PreTrainedTokenizerBase

from tokenshift.data.organism import solution
from tokenshift.errors import UserError
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


T = TypeVar("T")
PairMaker = Callable[[T, random.Random], tuple[str, str]]


def organism_pairs(slip_prob: float) -> PairMaker:
    """(prompt, solution) of an organism problem, each units carry forgotten with ``slip_prob``."""
    return lambda p, rng: (p.prompt, solution(p, rng, slip_prob))


def reference_pairs(data: pl.DataFrame) -> list[tuple[str, str]]:
    """(rendered prompt, reference solution) rows of a prepared dataset that has solutions."""
    if "solution" not in data.columns or data["solution"].null_count():
        raise UserError("train_sft: the training dataset has no reference solution for every problem "
                        "(give it a solution_field, or use a generator that writes solutions)")
    return list(zip(data["prompt"].to_list(), data["solution"].to_list()))


def train_sft(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, examples: Sequence[T], steps: int,
              batch_size: int, lr: float, warmup: int, seed: int,
              make_pair: PairMaker = lambda e, rng: e, log: Iterable | None = None,
              on_step: Callable[[int, float], None] | None = None) -> list[float]:
    """Train in place; each batch draws examples from a seeded RNG and ``make_pair`` turns each into
    (prompt, target) text; the model's own device is used."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: warmup_cosine(s, steps, warmup))
    losses = []
    bar = tqdm(range(steps), desc="sft", file=log, mininterval=10)
    for step in bar:
        batch = [rng.choice(examples) for _ in range(batch_size)]
        ids, mask, labels = (t.to(model.device) for t in make_batch(tokenizer, [make_pair(e, rng) for e in batch]))
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
