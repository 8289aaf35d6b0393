"""Which torch device a stage runs on, from the config's ``device`` (auto, cpu, cuda)."""

from __future__ import annotations

import torch

from tokenshift.errors import UserError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` = the first CUDA GPU if one is visible, else the CPU; ``cuda`` without a GPU is an error.

    Checked before a model is loaded, so a job sent to a machine without a GPU fails in a second
    with one line rather than silently running for hours on its CPU.
    """
    if name not in DEVICES:
        raise UserError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError("device: cuda, but torch sees no CUDA GPU here (torch.cuda.is_available() is False); "
                        "set device: cpu or auto")
    return torch.device("cuda")
