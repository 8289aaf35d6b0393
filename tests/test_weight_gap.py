"""σ of the paper's Table 6, streamed from safetensors, against numpy over whole state dicts."""

from __future__ import annotations

import numpy as np
import pytest
from safetensors.torch import load_file, save_file
from tokenshift.analysis.weight_gap import weight_gap
from tokenshift.models.sources import ModelError


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
