"""σ of the paper's Table 6, streamed from safetensors in blocks, against numpy over whole state dicts; and its
memory, bounded whatever the size of a tensor."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tokenshift.analysis.weight_gap import BLOCK_ELEMENTS, blocks, memory_mb, weight_gap
from tokenshift.models.sources import ModelError

# Shapes that take each way of cutting a tensor at a limit of 16 elements: whole, runs of rows, pieces of rows
# (also two levels down), a scalar, an empty tensor; in three stored dtypes.
SHAPES = {"scalar": (), "empty": (0, 3), "vector": (37,), "rows": (13, 5), "long_rows": (3, 50), "cube": (2, 3, 40),
          "small": (2, 3, 2)}
DTYPES = {"vector": torch.bfloat16, "rows": torch.float16}


def test_sigma_matches_numpy_on_a_tiny_pair(tiny_pair):
    base, tuned = tiny_pair
    a, b = load_file(base / "model.safetensors"), load_file(tuned / "model.safetensors")
    num = sum(np.abs(a[k].double().numpy() - b[k].double().numpy()).sum() for k in a)
    den = sum(np.abs(a[k].double().numpy()).sum() + np.abs(b[k].double().numpy()).sum() for k in a)
    gap = weight_gap(base, tuned)
    assert gap.sigma == pytest.approx(num / den, rel=1e-12)
    assert gap.n_params == sum(t.numel() for t in a.values()) and gap.n_tensors == len(a)
    assert weight_gap(base, base).sigma == 0.0


def test_sharded_checkpoint_reads_like_one_file(tiny_pair, tmp_path):
    base, tuned = tiny_pair
    tensors = load_file(tuned / "model.safetensors")
    names = sorted(tensors)
    half = len(names) // 2
    save_file({k: tensors[k] for k in names[:half]}, str(tmp_path / "model-00001-of-00002.safetensors"))
    save_file({k: tensors[k] for k in names[half:]}, str(tmp_path / "model-00002-of-00002.safetensors"))
    assert weight_gap(base, tmp_path).sigma == weight_gap(base, tuned).sigma


def test_different_architectures_are_an_error(tiny_pair, tmp_path):
    base, _ = tiny_pair
    tensors = load_file(base / "model.safetensors")
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match="store different tensors"):
        weight_gap(base, tmp_path)


@pytest.mark.parametrize("shape", SHAPES.values(), ids=list(SHAPES))
@pytest.mark.parametrize("limit", [1, 4, 16, 10_000])
def test_blocks_cover_each_element_once_within_the_limit(shape, limit):
    index = np.arange(math.prod(shape)).reshape(shape)
    parts = [index.reshape(-1) if b is None else index[b].reshape(-1) for b in blocks(shape, limit)]
    assert np.array_equal(np.concatenate(parts), np.arange(math.prod(shape)))
    assert all(p.size <= limit for p in parts) or len(parts) == 1 and parts[0].size <= limit


@pytest.mark.parametrize("limit", [1, 7, 16, BLOCK_ELEMENTS])
def test_sigma_in_blocks_matches_numpy_on_whole_tensors(tmp_path, limit):
    """Blocks of any size give numpy's σ over whole float64 tensors, to 1e-12."""
    gen = torch.Generator().manual_seed(0)
    a = {k: torch.randn(s, generator=gen).to(DTYPES.get(k, torch.float32)) for k, s in SHAPES.items()}
    b = {k: (v.float() + 0.1 * torch.randn(v.shape, generator=gen)).to(v.dtype) for k, v in a.items()}
    for name, tensors in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        save_file(tensors, str(tmp_path / name / "model.safetensors"))
    whole = {name: {k: v.double().numpy() for k, v in t.items()} for name, t in (("a", a), ("b", b))}
    num = sum(np.abs(whole["a"][k] - whole["b"][k]).sum() for k in a)
    den = sum(np.abs(whole["a"][k]).sum() + np.abs(whole["b"][k]).sum() for k in a)
    gap = weight_gap(tmp_path / "a", tmp_path / "b", limit=limit)
    assert gap.sigma == pytest.approx(num / den, rel=1e-12)
    assert gap.abs_diff == pytest.approx(num, rel=1e-12)
    assert gap.n_params == sum(t.numel() for t in a.values()) and gap.n_tensors == len(a)


def test_memory_bound_follows_the_largest_block(tmp_path, tiny_pair):
    """memory_mb: the base plus three float64 buffers and two stored-dtype copies of the largest block; a model not
    on disk counts as a full block of 8-byte elements."""
    base, tuned = tiny_pair
    largest = max(t.numel() for t in load_file(base / "model.safetensors").values())
    assert memory_mb([base, tuned]) == memory_mb([]) + math.ceil(largest * (3 * 8 + 2 * 4) / 1e6)
    assert memory_mb([tmp_path / "not-fetched"]) == memory_mb([]) + math.ceil(BLOCK_ELEMENTS * 5 * 8 / 1e6)
    assert memory_mb([tiny_pair[0]], limit=4) == memory_mb([]) + 1


# Runs weight_gap on two checkpoints and prints σ and its own peak resident memory: VmHWM, the high-water mark of this
# process image (ru_maxrss would not do: Linux carries the parent's resident size at the fork across the exec).
CHILD = """
import json, sys
from tokenshift.analysis.weight_gap import weight_gap
gap = weight_gap(sys.argv[1], sys.argv[2])
with open("/proc/self/status") as status:
    peak_kb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"sigma": gap.sigma, "n_params": gap.n_params, "peak_mb": peak_kb / 1024}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak from /proc/self/status")
def test_a_tensor_of_200m_elements_runs_in_bounded_memory(tmp_path):
    """A 205M-element float32 tensor (0.82 GB per checkpoint; whole-tensor float64 copies would need 6 GB) stays
    under 1.5 GB of resident memory, and under memory_mb, the bound rule weight_gap asks for. W_b = 2 W_a exactly,
    so |W_a - W_b| = |W_a| and σ = 1/3 whatever the draw."""
    a, b = tmp_path / "a", tmp_path / "b"
    try:
        a.mkdir(), b.mkdir()
        w = torch.randn(50_000, 4_096, generator=torch.Generator().manual_seed(0))
        bias = torch.randn(4_096, generator=torch.Generator().manual_seed(1))
        save_file({"w": w, "bias": bias}, str(a / "model.safetensors"))
        w.mul_(2), bias.mul_(2)
        save_file({"w": w, "bias": bias}, str(b / "model.safetensors"))
        del w
        proc = subprocess.run([sys.executable, "-c", CHILD, str(a), str(b)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["n_params"] == 50_000 * 4_096 + 4_096
        assert out["sigma"] == pytest.approx(1 / 3, rel=1e-12)
        assert out["peak_mb"] < 1500 and out["peak_mb"] < memory_mb([a, b]), out
    finally:
        shutil.rmtree(a, ignore_errors=True), shutil.rmtree(b, ignore_errors=True)
