"""Benchmark helpers for real (pretrained, real-vocabulary) models given on the command line.

- :func:`perturbed_copy`: a seeded stand-in "fine-tuned" model, the given model with small
  Gaussian noise added to a few layers' weights, saved in a directory the caller owns (a
  temporary one), so the benchmark measures a pair that disagrees at some positions without
  anything on disk besides the given model changing what is measured;
- :func:`chat_prompts`: real-text arithmetic questions rendered with the tokenizer's chat template;
- :func:`describe`: what a JSON record says about the model(s) it measured.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from tokenshift.models.loading import load_model, load_tokenizer

PERTURB_LAYERS = 4  # the last layers get the noise
PERTURB_SCALE = 0.07  # noise std, relative to each weight tensor's own std
PERTURB_SEED = 0


def perturbed_copy(src: str | Path, dst: Path, seed: int = PERTURB_SEED, scale: float = PERTURB_SCALE,
                   layers: int = PERTURB_LAYERS) -> Path:
    """Save ``src`` with the weights of its last ``layers`` decoder layers perturbed to ``dst``.

    Each perturbed tensor ``w`` becomes ``w + scale * std(w) * N(0, 1)`` (seeded), so the copy
    keeps the vocabulary, tokenizer and architecture of ``src`` and differs from it a little.
    """
    model = load_model(src)
    tok = load_tokenizer(src)
    n_layers = model.config.num_hidden_layers
    chosen = {f"layers.{i}." for i in range(max(0, n_layers - layers), n_layers)}
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, w in model.named_parameters():
            if any(c in name for c in chosen) and w.dim() > 1:
                w.add_(scale * float(w.std()) * torch.randn(w.shape, generator=gen, dtype=w.dtype))
    model.save_pretrained(str(dst), safe_serialization=True)
    tok.save_pretrained(str(dst))
    return dst


def perturbation_note(src: str | Path, seed: int = PERTURB_SEED, scale: float = PERTURB_SCALE,
                      layers: int = PERTURB_LAYERS) -> str:
    return (f"{src} + N(0, ({scale} std(w))^2) on the weight matrices of its last {layers} layers "
            f"(seed {seed}), built in a temporary directory")


def chat_prompts(tokenizer, n: int, seed: int = 123) -> list[list[int]]:
    """``n`` token-id prompts: "What is a + b? ..." rendered with the chat template (seeded operands)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        msgs = [{"role": "user", "content": f"What is {a} + {b}? Put your final answer within \\boxed{{}}."}]
        text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        out.append(tokenizer.encode(text, add_special_tokens=False))
    return out


def has_chat_template(tokenizer) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))
