"""Mistakes caught when the workflow is planned, in one line naming the key, instead of deep in a job:
weights that can never move, clip ranges that clip nothing, GPUs on a CPU run, a model path that is a file,
a pair of two tokenizers, and device cuda without a GPU."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, save_tiny_model, snakemake_at_root
from tokenshift.errors import UserError
from tokenshift.pipeline.config import validate_config
from tokenshift.pipeline.preflight import check_local_models

DEFAULT = yaml.safe_load((ROOT / "config/config.yaml").read_text())


def _weighted(cfg: dict) -> dict:
    return next(v for v in cfg["train_variants"] if v.get("weighting", "none") == "sigmoid")


def _set(cfg: dict, change) -> dict:
    cfg = copy.deepcopy(cfg)
    change(cfg)
    return cfg


@pytest.mark.parametrize("change, message", [
    (lambda c: _weighted(c).update(alpha={"start_alpha": 0, "end_alpha": 0}), "α is 0 at every one of the run's"),
    (lambda c: _weighted(c).update(s=0), ".s': 0 makes every sigmoid weight 1"),
    (lambda c: _weighted(c).update(alpha={"start_alpha": 0, "end_alpha": 5, "start": 10_000}), "α is 0 at every"),
    (lambda c: _weighted(c).update(alpha={"start_alpha": float("inf")}), "start_alpha': must be a finite number"),
    (lambda c: _weighted(c).update(alpha={"end_alpha": float("nan"), "start": 1}), "end_alpha': must be a finite"),
    (lambda c: c.setdefault("train_rl", {}).update(epsilon=1.5), "'train_rl.epsilon': 1.5 is greater than or equal"),
    (lambda c: c.setdefault("train_rl", {}).update(epsilon_high=50), "'train_rl.epsilon_high': 50 is greater"),
    (lambda c: c.update(device="cpu", jobs={"generate": {"gpu": 1}}), "'jobs.generate.gpu': 1 GPUs asked for a run"),
    (lambda c: c["train_rl"].update(steps_per_generation=3), "'train_rl.steps_per_generation': must divide the"),
])
def test_config_mistakes_fail_before_any_job(change, message):
    with pytest.raises(UserError, match="config key") as err:
        validate_config(_set(DEFAULT, change))
    assert message in str(err.value)


def test_a_ramp_that_reaches_the_run_is_accepted():
    cfg = _set(DEFAULT, lambda c: _weighted(c).update(alpha={"start_alpha": 0, "end_alpha": 5, "start": 1}))
    validate_config(cfg)


def _path_config(tmp_path: Path, base: Path, tuned: Path) -> dict:
    cfg = {"name": "pf", "models": {"base": {"path": str(base)}, "rl": {"path": str(tuned)}},
           "pairs": [{"name": "rl", "base": "base", "tuned": "rl"}], "evaluation": {"models": ["base", "rl"]},
           "train_variants": []}
    return validate_config(cfg)


def test_a_model_path_that_is_a_file_names_the_key(tiny_pair, tmp_path):
    base, tuned = tiny_pair
    cfg = _path_config(tmp_path, base / "config.json", tuned)
    with pytest.raises(UserError, match=r"'models.base.path': .*config.json is a file; give the model's folder"):
        check_local_models(cfg)
    cfg = _path_config(tmp_path, tmp_path / "nowhere", tuned)
    with pytest.raises(UserError, match=r"'models.base.path': folder .*nowhere not found"):
        check_local_models(cfg)


def test_a_pair_of_two_tokenizers_fails_at_plan_time(tiny_pair, tmp_path):
    base, _ = tiny_pair
    other = save_tiny_model(tmp_path / "other", seed=3)
    spec = json.loads((other / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    a, b = sorted(k for k in vocab if k.isdigit())[:2]
    vocab[a], vocab[b] = vocab[b], vocab[a]  # same size, two ids swapped: no count or shape shows it
    (other / "tokenizer.json").write_text(json.dumps(spec))
    check_local_models(_path_config(tmp_path, base, base))
    with pytest.raises(UserError, match="pair 'rl' has two tokenizers"):
        check_local_models(_path_config(tmp_path, base, other))


def test_device_cuda_without_a_gpu_stops_the_plan_in_one_line(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    (tmp_path / "cuda.yaml").write_text("name: cuda\ndevice: cuda\n")
    proc = snakemake_at_root(ROOT, "--cores", "1", "--configfile", str(tmp_path / "cuda.yaml"), "--directory",
                             str(tmp_path))
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("tokenshift: invalid config")]
    assert lines == ["tokenshift: invalid config: config key 'device': cuda, but torch sees no CUDA device here "
                     f"(torch {torch.__version__}); use device auto or cpu, or run on a GPU node"]
    assert "Traceback" not in proc.stderr
