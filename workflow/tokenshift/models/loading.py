"""Loading, building and pairing HF causal LMs, with the checks that must precede heavy work."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from tokenshift.models.device import resolve_device
from tokenshift.models.sources import ModelError, model_path

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16, "float16": torch.float16}


def build_tiny_llama(tokenizer: PreTrainedTokenizerBase, hidden: int, layers: int, heads: int,
                     max_positions: int, seed: int) -> LlamaForCausalLM:
    """A from-scratch Llama sized for a laptop; no config or weights are downloaded."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=4 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
        max_position_embeddings=max_positions, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(cfg)


def _check_dir(path: str | Path, marker: str = "config.json") -> Path:
    p = model_path(path)
    if not p.is_dir():
        raise ModelError(f"model directory {p} not found")
    if not (p / marker).is_file():
        raise ModelError(f"model directory {p} has no {marker}")
    return p


def load_tokenizer(path: str | Path, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer of a model directory, after checking the directory exists (a one-line error if not)."""
    path = _check_dir(path, "tokenizer_config.json")
    return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)


def probe_dtype(dtype: torch.dtype, device: torch.device) -> None:
    """A matrix product in ``dtype`` on ``device``: raises where the device or this torch build lacks it."""
    x = torch.ones(4, 4, dtype=dtype, device=device)
    float((x @ x).sum())


def check_dtype(dtype: str, device: torch.device) -> None:
    """A half-precision ``dtype`` the device cannot compute in fails in one line before the weights load
    (bfloat16 on an old CPU or GPU), not in the first forward pass of a long job."""
    if dtype not in ("bfloat16", "float16"):
        return
    try:
        probe_dtype(_DTYPES[dtype], device)
    except RuntimeError as e:
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(f"dtype {dtype}: this {device.type} cannot compute in {dtype} ({reason}); "
                         "use float32") from None


def load_model(path: str | Path, dtype: str = "float32", device: str | torch.device = "cpu",
               trust_remote_code: bool = False) -> torch.nn.Module:
    """An eval-mode causal LM from safetensors weights, on ``device`` (auto, cpu, cuda, or a torch device)."""
    p = _check_dir(path)
    if dtype not in _DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}; choose one of {sorted(_DTYPES)}")
    target = device if isinstance(device, torch.device) else resolve_device(device)
    check_dtype(dtype, target)
    model = AutoModelForCausalLM.from_pretrained(
        str(p), dtype=_DTYPES[dtype], use_safetensors=True, trust_remote_code=trust_remote_code
    )
    return model.to(target).eval()


def shared_vocab_size(tok_a: PreTrainedTokenizerBase, tok_b: PreTrainedTokenizerBase,
                      name_a: str = "base", name_b: str = "tuned") -> int:
    """Length of the common tokenizer; raises if the two differ in content.

    Embedding matrices padded beyond the tokenizer (Qwen: 151936 rows for 151665
    tokens) are cut to this length by the consumers.
    """
    if tok_a.get_vocab() != tok_b.get_vocab():
        raise ModelError(f"tokenizers differ: {name_a} ({len(tok_a)} tokens) vs {name_b} ({len(tok_b)} tokens)")
    if tok_a.eos_token_id != tok_b.eos_token_id:
        raise ModelError(f"EOS ids differ: {name_a} {tok_a.eos_token_id} vs {name_b} {tok_b.eos_token_id}")
    return len(tok_a)
