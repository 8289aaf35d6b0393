"""Atomic outputs: a killed job never leaves a file or folder that looks complete.

Writers get a temporary sibling of the final path; it is renamed onto the final path only
when the block succeeds, and removed when it fails. The rename is atomic on one file system,
so Snakemake (and a reader) sees either the old state or the complete new output.

A full disk, an exceeded quota, or a folder that cannot be written is a user's problem, not a
bug: it becomes a :class:`UserError`, one line naming the output, the path refused and what to do.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tokenshift.errors import UserError

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


# errno -> (what happened, what to do about it)
_USER_ERRORS = {
    errno.ENOSPC: ("no space left on the device", "free space there, or write the results elsewhere, and rerun"),
    errno.EDQUOT: ("disk quota exceeded", "free space within your quota, or write the results elsewhere, and rerun"),
    errno.EACCES: ("permission denied", "fix its permissions (chmod u+w for a folder you own), or write the results "
                   "elsewhere, and rerun"),
    errno.EROFS: ("read-only file system", "write the results to a writable file system and rerun"),
}


@contextlib.contextmanager
def _user_errors(final: Path) -> Iterator[None]:
    """An OSError the user must fix (space, quota, permissions) as one line: the output, the path refused
    (the output's folder where the error names none, or names a temporary of ours), what to do."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in _USER_ERRORS:
            raise
        what, todo = _USER_ERRORS[exc.errno]
        where = Path(os.fsdecode(exc.filename)) if exc.filename is not None else final.parent
        if any(part.startswith(f".{final.name}.") and part.endswith(".tmp") for part in where.parts):
            where = final.parent
        raise UserError(f"cannot write output {final}: {what} at {where}; {todo}") from None


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on failure it is removed."""
    with _user_errors(Path(path)):
        with _atomic_file(path) as tmp:
            yield tmp


@contextlib.contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces ``path`` only if the block succeeds."""
    with _user_errors(Path(path)):
        with _atomic_dir(path) as tmp:
            yield tmp


@contextlib.contextmanager
def _atomic_file(path: str | Path) -> Iterator[Path]:
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
def _atomic_dir(path: str | Path) -> Iterator[Path]:
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
