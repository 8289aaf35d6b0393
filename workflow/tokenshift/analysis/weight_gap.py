"""The weight-level gap between two checkpoints of one architecture (the paper's Table 6).

σ = Σ|W_a − W_b| / (Σ|W_a| + Σ|W_b|) over every weight both models store, summed in float64.
Sharded checkpoints (``model-0000i-of-0000n``) work.

Memory is bounded whatever the model's size (a 32B model's embedding alone is 6.2 GB per float64
copy): each tensor is read in blocks of at most ``BLOCK_ELEMENTS`` elements (runs of whole rows, or
pieces of one row where a row is longer than that) with safetensors' ``get_slice``, each block's sums
are taken in float64 in three buffers allocated once, and each file is opened for one block only, so
that the pages of the memory-mapped file it touched are unmapped with it (a handle kept open over a
whole tensor leaves all of them resident). ``memory_mb`` is the bound; rule weight_gap asks for it.

Importing this module does not import torch (rule weight_gap sizes its memory with it while the
workflow is parsed).
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tokenshift.models.sources import ModelError, model_path

# Elements of one tensor read at a time: 2^22 = 4.2M, 34 MB as float64 (three such buffers are held).
BLOCK_ELEMENTS = 1 << 22
# Resident memory of rule weight_gap's script before any block: the interpreter with torch, safetensors and polars
# (0.27 GB measured with CPU-only torch), with room to spare.
BASE_MB = 1000
# Bytes per element of each safetensors dtype; an unknown one counts as 8.
DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "F4": 1, "F6_E2M3": 1,
               "F6_E3M2": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2, "U32": 4, "I32": 4, "F32": 4, "U64": 8,
               "I64": 8, "F64": 8, "C64": 8}


@dataclass(frozen=True)
class WeightGap:
    sigma: float
    abs_diff: float  # Σ|W_a − W_b|
    abs_a: float
    abs_b: float
    n_tensors: int
    n_params: int


@dataclass(frozen=True)
class TensorInfo:
    file: Path
    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def read_header(file: str | Path) -> dict[str, TensorInfo]:
    """Tensor name -> where, dtype and shape, from a safetensors file's header alone (8 bytes of length, then JSON)."""
    with open(file, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    header.pop("__metadata__", None)
    return {name: TensorInfo(Path(file), spec["dtype"], tuple(spec["shape"])) for name, spec in header.items()}


def tensors(model_dir: str | Path) -> dict[str, TensorInfo]:
    """Every tensor a checkpoint stores, over all its safetensors files."""
    root = model_path(model_dir)
    files = sorted(root.glob("*.safetensors"))
    if not files:
        raise ModelError(f"model directory {root} has no .safetensors files")
    found: dict[str, TensorInfo] = {}
    for f in files:
        found.update(read_header(f))
    return found


def blocks(shape: tuple[int, ...], limit: int = BLOCK_ELEMENTS) -> Iterator[tuple[slice, ...] | None]:
    """Index tuples that cut a tensor of ``shape`` into blocks of at most ``limit`` elements, in order, each element
    once: None (the whole tensor) when it fits; else runs of whole rows along the first dimension; else, when one
    row has more than ``limit`` elements, each row cut the same way."""
    if math.prod(shape) <= limit:
        yield None
    else:
        yield from _cuts(shape, limit)


def _cuts(shape: tuple[int, ...], limit: int) -> Iterator[tuple[slice, ...]]:
    row = math.prod(shape[1:])
    if row <= limit:
        step = limit // row
        rest = tuple(slice(None) for _ in shape[1:])
        for start in range(0, shape[0], step):
            yield (slice(start, min(start + step, shape[0])), *rest)
    else:
        for i in range(shape[0]):
            for inner in _cuts(shape[1:], limit):
                yield (slice(i, i + 1), *inner)


def largest_block(infos: Iterable[TensorInfo], limit: int = BLOCK_ELEMENTS) -> tuple[int, int]:
    """(elements, bytes per element): the most elements weight_gap holds of one tensor at a time, and the widest
    stored dtype."""
    infos = list(infos)
    return (max((min(i.numel, limit) for i in infos), default=0),
            max((DTYPE_BYTES.get(i.dtype, 8) for i in infos), default=0))


def memory_mb(model_dirs: Iterable[str | Path], limit: int = BLOCK_ELEMENTS) -> int:
    """A bound, in MB, on the resident memory of weight_gap over pairs of these models: BASE_MB plus the float64
    buffers (3 x 8 bytes per element of the largest block) plus that block as read from each of two files in its
    stored dtype. A model not on disk yet (a dry run, a hub model before its download) counts as a full block of
    8-byte elements, which bounds every model."""
    n, width = limit, 8
    try:
        infos = [info for d in model_dirs for info in tensors(d).values()]
    except (ModelError, OSError, ValueError, KeyError):
        pass
    else:
        n, width = largest_block(infos, limit)
    return BASE_MB + math.ceil(n * (3 * 8 + 2 * width) / 1e6)


def weight_gap(dir_a: str | Path, dir_b: str | Path, limit: int = BLOCK_ELEMENTS) -> WeightGap:
    """σ between two checkpoints; the tensors must match by name and shape (same architecture). At most ``limit``
    elements of a tensor are held at a time (``memory_mb``)."""
    import torch
    from safetensors import safe_open

    a, b = tensors(dir_a), tensors(dir_b)
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))
        raise ModelError(f"{dir_a} and {dir_b} store different tensors (e.g. {only[0]}); σ needs one architecture")
    for name in sorted(a):
        if a[name].shape != b[name].shape:
            raise ModelError(f"tensor {name} has shape {a[name].shape} in {dir_a} but {b[name].shape} in {dir_b}")

    n_max = largest_block(a.values(), limit)[0]
    buf = torch.empty(3 * n_max, dtype=torch.float64)
    wa, wb, scratch = buf[:n_max], buf[n_max:2 * n_max], buf[2 * n_max:]

    def read(info: TensorInfo, name: str, index: tuple[slice, ...] | None, out: torch.Tensor) -> torch.Tensor:
        """The block into ``out`` as float64, flat; the file is open (mapped) for this block only."""
        with safe_open(str(info.file), framework="pt") as handle:
            part = handle.get_tensor(name) if index is None else handle.get_slice(name)[index]
        out = out[:part.numel()]
        out.copy_(part.reshape(-1))
        return out

    diff = sum_a = sum_b = 0.0
    n_params = 0
    for name in sorted(a):
        for index in blocks(a[name].shape, limit):
            ta, tb = read(a[name], name, index, wa), read(b[name], name, index, wb)
            s = scratch[:ta.numel()]
            sum_a += float(torch.abs(ta, out=s).sum())
            sum_b += float(torch.abs(tb, out=s).sum())
            diff += float(torch.sub(ta, tb, out=s).abs_().sum())
        n_params += a[name].numel
    total = sum_a + sum_b
    return WeightGap(diff / total if total else 0.0, diff, sum_a, sum_b, len(a), n_params)
