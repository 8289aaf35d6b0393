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


def model_devices(name: str, n_models: int) -> list[torch.device]:
    """Where each of a job's ``n_models`` models goes: on CUDA with several visible GPUs, model i on
    GPU i (mod their number), so two models that do not fit one GPU together (two 32B models in
    bfloat16) each get their own; otherwise all on the one device of :func:`resolve_device`."""
    device = resolve_device(name)
    if device.type != "cuda":
        return [device] * n_models
    count = torch.cuda.device_count()
    return [torch.device("cuda", i % count) for i in range(n_models)]
