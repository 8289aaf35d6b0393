"""Results follow a model's weights, not its timestamps: weights replaced in place rerun what reads the model;
a touched or copied folder reruns nothing. And the digest itself reads content, whatever the file's size."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from conftest import ROOT, save_tiny_model, snakemake_at_root
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.files import digest
from tokenshift.files.digest import content_digest

TARGET = "results/fp/generations/rl/eval.parquet"


def _config(tmp_path: Path, base: Path, tuned: Path) -> Path:
    path = tmp_path / "fp.yaml"
    path.write_text(f"""name: fp
task: {{n_train: 200, n_eval: 4, min_steps: 1, max_steps: 1}}
models: {{base: {{path: {base}}}, rl: {{path: {tuned}}}}}
pairs: [{{name: rl, base: base, tuned: rl}}]
evaluation: {{models: [base, rl]}}
sampling: {{n_samples: 1, max_new_tokens: 6, batch_size: 4}}
""")
    return path


def test_replaced_weights_rerun_and_touched_or_copied_ones_do_not(tmp_path):
    base = save_tiny_model(tmp_path / "models" / "base", seed=0)
    tuned = save_tiny_model(tmp_path / "models" / "tuned", seed=1, perturb_from=base, scale=0.05)
    work = tmp_path / "work"
    work.mkdir()
    config = _config(tmp_path, base, tuned)
    proc = snakemake_at_root(work, TARGET, "--cores", "1", "--configfile", str(config), "-s",
                             str(ROOT / "Snakefile"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = (work / TARGET).read_bytes()

    def plan() -> str:
        proc = snakemake_at_root(work, TARGET, "-n", "--cores", "1", "--configfile", str(config), "-s",
                                 str(ROOT / "Snakefile"))
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout + proc.stderr

    # Touched (folder and files newer than every output, as `touch` makes them), and copied over itself:
    # same bytes, nothing to do.
    time.sleep(1.1)
    for p in [tuned, *tuned.iterdir()]:
        os.utime(p)
    copy = tmp_path / "models" / "copy"
    shutil.copytree(tuned, copy)
    shutil.rmtree(tuned)
    copy.rename(tuned)
    assert "Nothing to be done" in plan()

    # Replaced in place by a fine-tune of the same shapes: the folder's time does not change, the plan does.
    stamp = tuned.stat().st_mtime
    other = save_tiny_model(tmp_path / "models" / "other", seed=2, perturb_from=base, scale=0.05)
    shutil.copyfile(other / "model.safetensors", tuned / "model.safetensors")
    os.utime(tuned, (stamp, stamp))
    planned = plan()
    assert "rule model_fingerprint:" in planned and "rule generate:" in planned
    proc = snakemake_at_root(work, TARGET, "--cores", "1", "--configfile", str(config), "-s",
                             str(ROOT / "Snakefile"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / TARGET).read_bytes() != first


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=4096), st.integers(min_value=0, max_value=4095), st.integers(1, 255))
def test_the_digest_sees_any_change_of_a_small_file_and_ignores_its_time(data, where, flip):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.safetensors"
        path.write_bytes(data)
        before = content_digest(tmp)
        os.utime(path, (1, 1))
        assert content_digest(tmp) == before
        changed = bytearray(data)
        changed[where % len(data)] ^= flip
        path.write_bytes(bytes(changed))
        assert content_digest(tmp) != before


def test_a_large_file_is_sampled_through_its_whole_length(tmp_path, monkeypatch):
    monkeypatch.setattr(digest, "WHOLE_LIMIT", 1 << 12)
    monkeypatch.setattr(digest, "BLOCK", 1 << 8)
    size = 1 << 16
    data = bytearray(os.urandom(size))
    path = tmp_path / "w.bin"
    path.write_bytes(data)
    before = content_digest(path)
    # A fine-tune changes every tensor: a change spread through the file is seen wherever the samples fall.
    for i in range(0, size, 4096):
        data[i + 100] ^= 1
    path.write_bytes(data)
    assert content_digest(path) != before


def test_names_count_but_hidden_files_do_not(tmp_path):
    folder = save_tiny_model(tmp_path / "m", seed=0)
    before = content_digest(folder)
    (folder / ".cache").mkdir()
    (folder / ".cache" / "x").write_text("scratch")
    assert content_digest(folder) == before
    (folder / "config.json").rename(folder / "config2.json")
    assert content_digest(folder) != before
