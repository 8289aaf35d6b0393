"""The README's commands, run as written from the root of a clean copy of the repository: a config given
on the command line is the whole config (config/config.yaml is never merged under it), the plan is the
same from the root and under --directory, a moved project reruns nothing, and hub downloads stay on the
submit host under SLURM."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, copy_repo, snakemake_at_root
from test_paper_configs import PAPER, filled
from tokenshift.pipeline.config import schema_default, validate_config


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory) -> Path:
    return copy_repo(tmp_path_factory.mktemp("clone") / "tokenshift")



def plan(cwd: Path, *args: str) -> Counter:
    """Jobs per rule of a dry run."""
    proc = snakemake_at_root(cwd, "-n", *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return Counter(re.findall(r"^rule (\S+):$", proc.stdout + proc.stderr, flags=re.M))


def test_smollm2_plans_only_its_own_config(clean_copy, tmp_path):
    from_root = plan(clean_copy, "--cores", "2", "--configfile", "config/smollm2.yaml")
    elsewhere = plan(clean_copy, "--cores", "2", "--directory", str(tmp_path), "--configfile",
                     str(clean_copy / "config/smollm2.yaml"))
    assert from_root == elsewhere
    # Nothing of the default config's organism: no training variants, no matched SFT, no other pairs.
    assert "train_variant" not in from_root and "train_base" not in from_root
    assert from_root["train_sft"] == 1 and from_root["convert_gguf"] == 1
    cfg = validate_config(yaml.safe_load((clean_copy / "config/smollm2.yaml").read_text()))
    assert from_root["viewer"] == len(cfg["pairs"]) == 2  # the schema's pairs, rl and sft, on one prompt set


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_config_plans_the_same_from_the_root(path, clean_copy, tmp_path):
    files = [str(Path(f).relative_to(ROOT)) if Path(f).is_relative_to(ROOT) else f for f in filled(path, tmp_path)]
    from_root = plan(clean_copy, "--configfile", *files)
    elsewhere = plan(clean_copy, "--directory", str(tmp_path / "work"), "--configfile",
                     *[str(clean_copy / f) if not Path(f).is_absolute() else f for f in files])
    assert from_root == elsewhere and from_root["generate"] > 0


def test_readme_overlay_layers_the_files_the_user_names(clean_copy, tmp_path):
    model = tmp_path / "qwen2.5-32b-sft"
    model.mkdir()
    (clean_copy / "my-sft.yaml").write_text(f"models:\n  sft: {{path: {model}}}\n")
    jobs = plan(clean_copy, "--profile", "profiles/slurm", "--configfile", "config/paper/qwen2.5-32b-sft.yaml",
                "my-sft.yaml")
    assert jobs["model_fingerprint"] == 1 and jobs["generate"] > 0


def test_a_one_key_config_is_the_schema_defaults(clean_copy, tmp_path):
    (clean_copy / "mini.yaml").write_text("name: mini\n")
    from_root = plan(clean_copy, "--cores", "2", "--configfile", "mini.yaml")
    elsewhere = plan(clean_copy, "--cores", "2", "--directory", str(tmp_path), "--configfile",
                     str(clean_copy / "mini.yaml"))
    assert from_root == elsewhere
    assert "train_variant" not in from_root  # the default config's variants are not merged in
    proc = snakemake_at_root(clean_copy, "results/mini/config.yaml", "--cores", "1", "--configfile", "mini.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "tokenshift: config read from mini.yaml;" in proc.stderr
    resolved = yaml.safe_load((clean_copy / "results/mini/config.yaml").read_text())
    assert resolved["crosssample"]["eps"] == schema_default("crosssample.eps")
    assert resolved["train_variants"] == []


def test_no_config_means_the_default_config(clean_copy, tmp_path):
    from_root = plan(clean_copy, "--cores", "2")
    named = plan(clean_copy, "--cores", "2", "--configfile", "config/config.yaml")
    elsewhere = plan(clean_copy, "--cores", "2", "--directory", str(tmp_path))
    assert from_root == named == elsewhere and from_root["train_variant"] > 0


def test_a_moved_project_reruns_nothing(clean_copy, tmp_path):
    targets = ["results/ci/config.yaml", "results/ci/data/eval.parquet", "results/ci/models/tokenizer"]
    first = tmp_path / "first"
    shutil.copytree(clean_copy, first, symlinks=True)
    proc = snakemake_at_root(first, *targets, "--cores", "2", "--configfile", "config/ci.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    moved = tmp_path / "elsewhere" / "deeper" / "project"
    shutil.copytree(first, moved, symlinks=True)  # copy2 keeps modification times, as cp -a and rsync -a do
    proc = snakemake_at_root(moved, *targets, "-n", "--cores", "2", "--configfile", "config/ci.yaml")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_hub_downloads_and_datasets_run_on_the_submit_host_under_slurm(tmp_path):
    """A dry run never prints which jobs are local (Snakemake leaves that to the executor), so the
    workflow is loaded with the SLURM executor and asked directly."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings
    from snakemake_interface_executor_plugins.registry import ExecutorPluginRegistry

    config = ROOT / "config/paper/mistral-small-24b-simplerl.yaml"
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=ROOT / "Snakefile",
                                config_settings=ConfigSettings(configfiles=[config]), workdir=tmp_path)._workflow
        workflow._executor_plugin = ExecutorPluginRegistry().get_plugin("slurm")  # what --profile slurm selects
        assert not workflow.local_exec
        local = {rule.name for rule in workflow.rules if workflow.is_local(rule)}
    assert {"fetch_hub_model", "prepare_dataset", "model_fingerprint", "run_config"} <= local
    assert not local & {"generate", "dump", "crosssample_run", "train_rl"}
