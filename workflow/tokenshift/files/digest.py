"""Content fingerprints of model folders and files, so that results follow the weights, not timestamps.

Snakemake decides what to rerun from modification times. Those lie both ways for models given
by path: replacing ``model.safetensors`` inside a folder leaves the folder's time unchanged
(stale results), while ``touch`` or a copy changes it without changing a weight (needless
GPU-days). The pipeline therefore takes a model's *content* digest as a rule parameter.

A safetensors header alone would not do: a fine-tuned checkpoint of the same model has the
same header. Small files are hashed whole; a large file is hashed from its size and
``SAMPLES`` blocks spread evenly through it, which reads ~17 MiB per file whatever its size
(a 64 GB checkpoint costs about a second from the page cache) and still sees any fine-tune,
which changes every tensor.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

WHOLE_LIMIT = 64 << 20  # files up to this size are hashed whole
BLOCK = 1 << 20  # bytes read at each sample of a larger file
SAMPLES = 17  # evenly spaced blocks of a larger file, its first and last included


def _file_digest(path: Path, h: hashlib._Hash) -> None:
    size = path.stat().st_size
    h.update(f"{size}\0".encode())
    with open(path, "rb") as f:
        if size <= WHOLE_LIMIT:
            for block in iter(lambda: f.read(BLOCK), b""):
                h.update(block)
            return
        for i in range(SAMPLES):
            f.seek((size - BLOCK) * i // (SAMPLES - 1))
            h.update(f.read(BLOCK))


def content_digest(path: str | Path) -> str:
    """SHA-256 over a file, or over every file of a folder (names relative to it, sorted, hidden files and
    folders skipped), by content and size: independent of timestamps, location and walk order."""
    root = Path(path)
    h = hashlib.sha256()
    if root.is_file():
        _file_digest(root, h)
        return h.hexdigest()
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(folder, n) for n in names if not n.startswith(".")]
    for file in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(f"{file.relative_to(root).as_posix()}\0".encode())
        _file_digest(file, h)
    return h.hexdigest()
