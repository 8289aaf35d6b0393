"""Checks run when the workflow is planned, before any job: what can be known from the submit host about
the models given by path and the device, so that a mistake costs seconds, not a queued GPU job."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from tokenshift.errors import UserError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def _local_dir(config: dict[str, Any], name: str) -> Path | None:
    """The folder of model ``name`` if it is given by path, after checking it is a folder."""
    spec = config["models"][name]
    if "path" not in spec:
        return None
    path = Path(spec["path"])
    if path.is_file():
        raise UserError(f"config key 'models.{name}.path': {path} is a file; give the model's folder (the one "
                        "holding config.json, the weights and the tokenizer files)")
    if not path.is_dir():
        raise UserError(f"config key 'models.{name}.path': folder {path} not found")
    return path


def check_local_models(config: dict[str, Any]) -> None:
    """Every model given by path is a folder, and the two models of a pair that are both given by path with
    tokenizer files share one tokenizer (compared by fingerprint; others are checked when they load)."""
    dirs = {name: _local_dir(config, name) for name in config["models"]}
    seen: dict[Path, str] = {}
    for pair in config["pairs"]:
        folders = [dirs.get(pair[role]) for role in ("base", "tuned")]
        if not all(f is not None and all((f / t).is_file() for t in TOKENIZER_FILES) for f in folders):
            continue
        prints = [seen.get(f) or seen.setdefault(f, _fingerprint(f, config["trust_remote_code"])) for f in folders]
        if prints[0] != prints[1]:
            raise UserError(f"config key 'pairs': pair {pair['name']!r} has two tokenizers ({folders[0]} and "
                            f"{folders[1]} map tokens to other ids); per-token comparisons need one vocabulary")


def _fingerprint(folder: Path, trust_remote_code: bool) -> str:
    from transformers import AutoTokenizer

    from tokenshift.models.fingerprint import tokenizer_fingerprint

    return tokenizer_fingerprint(AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code))


def check_device(config: dict[str, Any]) -> None:
    """``device: cuda`` on a machine without one fails at plan time, not in the first torch job. Only for
    jobs that run here: on a cluster the submit host need not have the GPUs its jobs get."""
    if config["device"] != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise UserError("config key 'device': cuda, but torch sees no CUDA device here "
                        f"(torch {torch.__version__}); use device auto or cpu, or run on a GPU node")


def check_vllm(config: dict[str, Any]) -> None:
    """A config that asks for vLLM (``sampling.backend`` or ``crosssample.tail``) where it is not installed fails
    at plan time in one line saying how to install it. Only where jobs run in this environment: a conda
    job gets the package its environment file names."""
    from tokenshift.generation.vllm_backend import INSTALL

    asks = [key for key, on in (("sampling.backend", config["sampling"]["backend"] == "vllm"),
                                ("crosssample.tail", config["crosssample"]["enabled"]
                                 and config["crosssample"]["tail"] == "vllm")) if on]
    if asks and importlib.util.find_spec("vllm") is None:
        raise UserError(f"config key '{asks[0]}': vllm, but vLLM is not installed here; {INSTALL}")
