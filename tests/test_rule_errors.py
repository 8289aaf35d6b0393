"""Rule scripts fail in their logs and in one line where the user can fix the cause, and use the rule's threads.

- every failure ends the rule's log: ``error: <message>`` for a UserError, the traceback otherwise;
- user-fixable failures (a prompt the tokenizer cannot encode, a non-finite config number, a full disk,
  a folder that cannot be written) are UserErrors naming the dataset, key or path;
- a cross-sampling shard that draws no batch writes an empty part, and the parts merge to the unsharded file;
- ``threads`` is bound before polars and BLAS are imported, by every script.
"""

from __future__ import annotations

import ast
import errno
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pyarrow.parquet as pq
import pytest
import torch
from conftest import ROOT
from tokenshift.crosssample import CrossSpec, cross_sample_dataset
from tokenshift.crosssample.run import RESPONSE_SCHEMA, SWITCH_SCHEMA
from tokenshift.data.prompts import check_encodable
from tokenshift.data.vocab import build_char_tokenizer, save_char_tokenizer
from tokenshift.errors import UserError
from tokenshift.files import atomic
from tokenshift.files.atomic import atomic_dir, atomic_file
from tokenshift.files.parquet import write_parquet, write_text
from tokenshift.files.shards import Shard, merge_parts
from tokenshift.generation.sampler import SamplingParams
from tokenshift.pipeline.config import SCHEMA_PATH, validate_config
from tokenshift.pipeline.rulectx import rule_context
from tokenshift.pipeline.threads import THREAD_VARIABLES
from tokenshift.training.alpha import AlphaSchedule

SCRIPTS = ROOT / "workflow" / "scripts"


class Bag(dict):
    """Snakemake's named lists: keys as attributes."""

    __getattr__ = dict.__getitem__


def fake_smk(log: Path | None, threads: int = 1, **named) -> SimpleNamespace:
    """What rule_context and provenance read of a script's ``snakemake`` object."""
    parts = {"input": Bag(), "output": Bag(), "params": Bag(), "wildcards": Bag(), **named}
    return SimpleNamespace(rule="some_rule", threads=threads, log=[str(log)] if log else [], **parts)


@pytest.fixture
def restore_threads(monkeypatch):
    """rule_context binds the process's threads: give the test process its settings back afterwards."""
    for var in THREAD_VARIABLES:
        if var in os.environ:
            monkeypatch.setenv(var, os.environ[var])
        else:
            monkeypatch.delenv(var, raising=False)
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


# 1. Every failure ends the rule's log.


def test_a_user_error_ends_the_log_in_one_line(tmp_path, restore_threads):
    log = tmp_path / "rule.log"
    with pytest.raises(SystemExit) as stop, rule_context(fake_smk(log)):
        raise UserError("dataset 'x': no rows")
    assert stop.value.code == 1
    lines = log.read_text().splitlines()
    assert lines[0].startswith("provenance: ")
    assert lines[-1] == "error: dataset 'x': no rows"


def test_an_unexpected_error_ends_the_log_with_its_traceback_and_is_raised_on(tmp_path, restore_threads):
    log = tmp_path / "rule.log"

    def deep():
        raise KeyError("budgets")

    with pytest.raises(KeyError), rule_context(fake_smk(log)):
        print("working", flush=True)
        deep()
    text = log.read_text()
    lines = text.splitlines()
    assert lines[0].startswith("provenance: ") and lines[1] == "working"
    assert lines[2] == "Traceback (most recent call last):"
    assert "in deep" in text
    assert lines[-1] == "KeyError: 'budgets'"


def run_rule_script(tmp_path: Path, body: str, threads: int = 1) -> tuple[subprocess.CompletedProcess, Path]:
    """``body`` run as Snakemake runs a rule's script: its preamble (Snakemake's own code) unpickles the
    ``snakemake`` object, then the script follows, in a fresh interpreter with no thread settings of its own."""
    from snakemake.iocontainers import InputFiles, Log, Namedlist, OutputFiles, Params, Wildcards
    from snakemake.script import PythonScript

    log = tmp_path / "rule.log"
    where = SimpleNamespace(get_basedir=lambda: SimpleNamespace(get_path_or_uri=lambda secret_free=True: str(SCRIPTS)))
    preamble = PythonScript.generate_preamble(
        where, None, "", str(SCRIPTS), InputFiles([]), OutputFiles([]), Params(fromdict={"x": 1}), Wildcards(),
        threads, Namedlist(), Log([str(log)]), {}, "some_rule", None, None, None, None, None, 0, None, False, None,
        True)
    script = tmp_path / "script.py"
    script.write_text(preamble + textwrap.dedent(body))
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    return proc, log


def test_a_failing_script_exits_nonzero_with_the_traceback_at_the_end_of_its_log(tmp_path):
    proc, log = run_rule_script(tmp_path, '''
        from tokenshift.pipeline.threads import bind_threads

        bind_threads(snakemake)

        from tokenshift.pipeline.rulectx import rule_context

        with rule_context(snakemake):
            {}["missing"]
        ''')
    assert proc.returncode != 0
    lines = log.read_text().splitlines()
    assert lines[0].startswith("provenance: ") and "Traceback (most recent call last):" in lines
    assert lines[-1] == "KeyError: 'missing'"
    assert "KeyError: 'missing'" in proc.stderr  # the console still says it too


# 3. threads binds polars, BLAS and torch.


@pytest.mark.parametrize("threads", [1, 3])
def test_threads_bind_polars_and_torch(tmp_path, threads):
    proc, log = run_rule_script(tmp_path, '''
        from tokenshift.pipeline.threads import bind_threads

        bind_threads(snakemake)

        import polars as pl
        import torch
        from tokenshift.pipeline.rulectx import rule_context

        with rule_context(snakemake):
            print(f"threads {pl.thread_pool_size()} {torch.get_num_threads()}")
        ''', threads=threads)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines()[-1] == f"threads {threads} {threads}"


def _is_bind_call(node: ast.stmt) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "bind_threads")


@pytest.mark.parametrize("script", sorted(SCRIPTS.glob("*.py")), ids=lambda p: p.name)
def test_every_script_binds_threads_before_any_other_import(script):
    body = ast.parse(script.read_text()).body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    first, second = body[:2]
    assert isinstance(first, ast.ImportFrom) and first.module == "tokenshift.pipeline.threads", script.name
    assert [a.name for a in first.names] == ["bind_threads"], script.name
    assert _is_bind_call(second), f"{script.name}: bind_threads(snakemake) must follow its import at once"
    arg = ast.unparse(second.value.args[0])
    assert arg in ("snakemake", "globals().get('snakemake')"), script.name


# 2b. A prompt the tokenizer cannot encode fails when the dataset is prepared.


def test_a_prompt_outside_the_tokenizers_characters_is_named():
    tok = build_char_tokenizer()
    check_encodable(["1+2=", "34-5="], tok, "mine")
    with pytest.raises(UserError) as err:
        check_encodable(["1+2=", "3 + 4 = ?", "x"], tok, "mine")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("dataset 'mine': prompt 1 holds characters that the tokenizer cannot encode")
    assert message.endswith("' ', '?'; write the problems and the prompt template in the tokenizer's characters")


def test_prepare_dataset_refuses_prompts_the_tokenizer_cannot_encode(tmp_path, restore_threads):
    problems = tmp_path / "mine.jsonl"
    problems.write_text('{"problem": "1+2", "answer": "3"}\n{"problem": "what is 3 + 4?", "answer": "7"}\n')
    tokenizer = tmp_path / "tokenizer"
    save_char_tokenizer(tokenizer)
    entry = {"name": "mine", "path": str(problems), "grader": "organism",
             "prompt": {"template": "{problem}=", "chat": False, "system": None}}
    log, out = tmp_path / "prepare.log", tmp_path / "mine.parquet"
    smk = fake_smk(log, input=Bag(tokenizer=str(tokenizer)), output=Bag(table=str(out)),
                   params=Bag(entry=entry, seed=0, trust_remote_code=False))
    with pytest.raises(SystemExit):
        exec(compile((SCRIPTS / "prepare_dataset.py").read_text(), "prepare_dataset.py", "exec"),
             {"snakemake": smk, "__name__": "__main__"})
    assert log.read_text().splitlines()[-1].startswith(
        "error: dataset 'mine': prompt 1 holds characters that the tokenizer cannot encode (it has no unknown "
        "token): 'w', 'h', 'a', 't', ' ', 'i', 's', '?';")
    assert not out.exists()


# 2c. A cross-sampling shard without a batch.


def test_a_shard_without_a_batch_writes_an_empty_part_and_the_parts_merge_to_the_whole(tiny_pair, tmp_path):
    base, tuned = tiny_pair
    data = pl.DataFrame({"problem_id": [0, 1], "prompt": ["12+34=", "5-6="], "answer": ["46", "-1"]})
    spec = CrossSpec(0.01, (0, 2), SamplingParams(3, 1.0, 0.9, 8), n_samples=2, batch_size=4, dtype="float32",
                     device="cpu")  # 4 rows: one batch, so shards 0 and 1 of 3 draw none
    meta = {"run": "test"}

    def write(responses, switches, name):
        write_parquet(responses, tmp_path / f"{name}.parquet", metadata=meta)
        write_parquet(switches, tmp_path / f"{name}_switches.parquet", metadata=meta)

    responses, switches, _ = cross_sample_dataset(base, tuned, data, spec)
    assert responses.height == 2 * 2 * 2
    write(responses, switches, "whole")
    for i in range(3):
        responses, switches, stats = cross_sample_dataset(base, tuned, data, spec, shard=Shard(i, 3))
        if i < 2:
            assert responses.height == 0 and switches.height == 0 and stats.full.passes == 0
            assert responses.schema == pl.Schema({**RESPONSE_SCHEMA, "correct": pl.Boolean})
            assert switches.schema == pl.Schema(SWITCH_SCHEMA)
        write(responses, switches, f"part{i}")
    merge_parts([tmp_path / f"part{i}.parquet" for i in range(3)], tmp_path / "merged.parquet",
                sort_by=["budget", "problem_id", "sample_idx"])
    merge_parts([tmp_path / f"part{i}_switches.parquet" for i in range(3)], tmp_path / "merged_switches.parquet")
    for name in ("merged", "merged_switches"):
        whole = name.replace("merged", "whole")
        assert (tmp_path / f"{name}.parquet").read_bytes() == (tmp_path / f"{whole}.parquet").read_bytes(), name
    assert pq.read_table(tmp_path / "merged.parquet").num_rows == 8


# 2d. Non-finite numbers in the config.


@pytest.mark.parametrize("variant, key", [
    ({"weighting": "sigmoid", "s": float("nan"), "alpha": {"end_alpha": 1.0}}, "train_variants.0.s"),
    ({"alpha": {"end_alpha": float("inf")}}, "train_variants.0.alpha.end_alpha"),
    ({"weighting": "sigmoid", "alpha": {"start_alpha": float("-inf"), "end_alpha": 1.0}},
     "train_variants.0.alpha.start_alpha"),
    ({"top_entropy_quantile": float("nan")}, "train_variants.0.top_entropy_quantile"),
])
def test_non_finite_config_numbers_name_their_key(variant, key):
    with pytest.raises(UserError) as err:
        validate_config({"name": "x", "train_variants": [{"name": "w", **variant}]}, SCHEMA_PATH)
    assert str(err.value).startswith(f"config key '{key}': must be a finite number, got ")


def test_yaml_nan_and_inf_are_refused():
    import yaml

    cfg = yaml.safe_load("name: x\ntrain_variants:\n  - {name: w, weighting: sigmoid, alpha: {end_alpha: .nan}}\n")
    with pytest.raises(UserError, match=r"^config key 'train_variants.0.alpha.end_alpha': must be a finite number, "
                                        r"got nan$"):
        validate_config(cfg, SCHEMA_PATH)


def test_alpha_schedule_refuses_non_finite_values():
    with pytest.raises(UserError, match="^alpha schedule: start_alpha and end_alpha must be finite numbers, got 0.0, "
                                        "inf$"):
        AlphaSchedule(end_alpha=float("inf"))
    with pytest.raises(UserError, match="must be finite"):
        AlphaSchedule(start_alpha=float("nan"))


# 2e. A full disk or a folder that cannot be written.


def test_a_full_disk_is_one_line_naming_the_output(tmp_path):
    out = tmp_path / "tables" / "accuracy.csv"

    def full(self, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "write_text", full)
        with pytest.raises(UserError) as err:
            write_text("a,b\n", out)
    assert str(err.value) == (f"cannot write output {out}: no space left on the device at {out.parent}; free space "
                              "there, or write the results elsewhere, and rerun")
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert list(out.parent.iterdir()) == []  # the temporary is gone


@pytest.mark.parametrize("code, what", [(errno.EDQUOT, "disk quota exceeded"),
                                        (errno.EROFS, "read-only file system"),
                                        (errno.EACCES, "permission denied")])
def test_quota_read_only_and_permissions_are_one_line(tmp_path, monkeypatch, code, what):
    out = tmp_path / "model"

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path))

    monkeypatch.setattr(atomic.tempfile, "mkdtemp", refuse)
    expected = f"cannot write output {out}: {what} at {tmp_path}; "
    with pytest.raises(UserError, match=f"^{re.escape(expected)}"):
        with atomic_dir(out):
            pass


def test_other_os_errors_stay_as_they_are(tmp_path):
    with pytest.raises(FileNotFoundError), atomic_file(tmp_path / "x.txt"):
        open(tmp_path / "missing" / "input.txt")


def test_a_read_only_results_folder_is_one_line_naming_it(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    results.chmod(0o555)
    try:
        probe = results / ".probe"
        try:
            probe.touch()
        except PermissionError:
            pass
        else:
            probe.unlink()
            pytest.skip("this user may write to a folder of mode 0555 (root): its permissions cannot be tested")
        out = results / "tables" / "accuracy.csv"
        with pytest.raises(UserError) as err:
            write_text("a,b\n", out)
        assert str(err.value) == (f"cannot write output {out}: permission denied at {out.parent}; fix its permissions "
                                  "(chmod u+w for a folder you own), or write the results elsewhere, and rerun")
    finally:
        results.chmod(0o755)
