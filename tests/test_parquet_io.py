"""Atomic writes: complete files only, normal permissions, deterministic bytes."""

import os
import stat

import polars as pl
import pytest
from tokenshift.files.atomic import atomic_dir
from tokenshift.files.parquet import read_metadata, write_parquet, write_text


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_and_dirs_get_umask_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    write_text("a", tmp_path / "t.csv")
    write_parquet(pl.DataFrame({"x": [1]}), tmp_path / "t.parquet", metadata={"k": 1})
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("1")
        os.chmod(d / "f", 0o600)  # as some writers (safetensors) leave their files
    assert _mode(tmp_path / "d" / "f") == 0o666 & ~umask
    assert _mode(tmp_path / "t.csv") == 0o666 & ~umask
    assert _mode(tmp_path / "t.parquet") == 0o666 & ~umask
    assert _mode(tmp_path / "d") == 0o777 & ~umask
    assert read_metadata(tmp_path / "t.parquet") == {"k": 1}


def test_failed_writes_leave_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_dir(tmp_path / "d") as d:
            (d / "f").write_text("1")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError):
        write_text(None, tmp_path / "x.csv")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_temporaries_of_a_killed_attempt_are_removed_by_the_next(tmp_path):
    """A SIGKILLed writer never runs its cleanup; the next write of the same output removes its leftovers."""
    (tmp_path / ".t.csv.abc123.tmp").write_text("partial")
    (tmp_path / ".d.xyz.tmp").mkdir()
    (tmp_path / ".other.csv.q.tmp").write_text("someone else's")
    write_text("a", tmp_path / "t.csv")
    with atomic_dir(tmp_path / "d") as d:
        (d / "f").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.csv.q.tmp", "d", "t.csv"]


def test_parquet_bytes_are_deterministic(tmp_path):
    df = pl.DataFrame({"a": [1, 2, 3], "b": [[1], [2, 3], []]})
    write_parquet(df, tmp_path / "1.parquet", metadata={"m": "x"})
    write_parquet(df, tmp_path / "2.parquet", metadata={"m": "x"})
    assert (tmp_path / "1.parquet").read_bytes() == (tmp_path / "2.parquet").read_bytes()
