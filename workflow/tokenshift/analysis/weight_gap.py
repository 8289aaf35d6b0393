"""The weight-level gap between two checkpoints of one architecture (the paper's Table 6).

σ = Σ|W_a − W_b| / (Σ|W_a| + Σ|W_b|) over every weight both models store, summed in float64.
Tensors are read one at a time from the safetensors files (memory-mapped), so the memory cost is
one tensor whatever the model's size, and sharded checkpoints (``model-0000i-of-0000n``) work.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open

from tokenshift.models.sources import ModelError, model_path


@dataclass(frozen=True)
class WeightGap:
    sigma: float
    abs_diff: float  # Σ|W_a − W_b|
    abs_a: float
    abs_b: float
    n_tensors: int
    n_params: int


def tensor_files(model_dir: str | Path) -> dict[str, Path]:
    """Tensor name -> the safetensors file that holds it."""
    root = model_path(model_dir)
    files = sorted(root.glob("*.safetensors"))
    if not files:
        raise ModelError(f"model directory {root} has no .safetensors files")
    where: dict[str, Path] = {}
    for f in files:
        with safe_open(str(f), framework="pt") as handle:
            where.update((name, f) for name in handle.keys())
    return where


def weight_gap(dir_a: str | Path, dir_b: str | Path) -> WeightGap:
    """σ between two checkpoints; the tensors must match by name and shape (same architecture)."""
    a, b = tensor_files(dir_a), tensor_files(dir_b)
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))
        raise ModelError(f"{dir_a} and {dir_b} store different tensors (e.g. {only[0]}); σ needs one architecture")
    diff = sum_a = sum_b = 0.0
    n_params = 0
    for name in sorted(a):
        with safe_open(str(a[name]), framework="pt") as fa, safe_open(str(b[name]), framework="pt") as fb:
            ta, tb = fa.get_tensor(name).double(), fb.get_tensor(name).double()
        if ta.shape != tb.shape:
            raise ModelError(f"tensor {name} has shape {tuple(ta.shape)} in {dir_a} but {tuple(tb.shape)} in {dir_b}")
        diff += float(torch.sum(torch.abs(ta - tb)))
        sum_a += float(torch.sum(torch.abs(ta)))
        sum_b += float(torch.sum(torch.abs(tb)))
        n_params += ta.numel()
    total = sum_a + sum_b
    return WeightGap(diff / total if total else 0.0, diff, sum_a, sum_b, len(a), n_params)
