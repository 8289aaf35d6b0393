"""Atomic outputs: a killed job never leaves a file or folder that looks complete.

Writers get a temporary sibling of the final path; it is renamed onto the final path only
when the block succeeds, and removed when it fails. The rename is atomic on one file system,
so Snakemake (and a reader) sees either the old state or the complete new output.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

_UMASK = os.umask(0)
os.umask(_UMASK)


def _prepare(path: str | Path) -> Path:
    """Create the parent folder and remove temporaries that a killed earlier attempt left behind."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{glob.escape(final.name)}.*.tmp"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)
    return final


def _share(root: Path) -> None:
    """Give a finished folder's contents the umask's permissions (some writers create 0600 files)."""
    for sub in root.rglob("*"):
        os.chmod(sub, (0o777 if sub.is_dir() else 0o666) & ~_UMASK)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed."""
    final = _prepare(path)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would survive the rename; results are shared files
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` only if the block succeeds."""
    final = _prepare(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        _share(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
