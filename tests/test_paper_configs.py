"""The paper's own setups (config/paper/*.yaml): valid, faithful to the paper's settings, and planned on
SLURM with GPUs for the model rules only (dry runs with profiles/slurm; no cluster needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT
from tokenshift.errors import UserError
from tokenshift.pipeline.config import resolve_config, validate_config

PAPER = sorted((ROOT / "config" / "paper").glob("*.yaml"))
MODEL_RULES = {"generate", "dump", "crosssample_run"}


def unset_models(path: Path) -> list[str]:
    models = yaml.safe_load(path.read_text())["models"]
    return [name for name, spec in models.items() if "path" in spec and spec["path"] is None]


def filled(path: Path, tmp_path: Path) -> list[str]:
    """Config files for ``path`` with its unset model paths pointing at (empty) local folders."""
    missing = unset_models(path)
    if not missing:
        return [str(path)]
    for name in missing:
        (tmp_path / name).mkdir()
    overlay = tmp_path / "paths.yaml"
    overlay.write_text(yaml.safe_dump({"models": {n: {"path": str(tmp_path / n)} for n in missing}}))
    return [str(path), str(overlay)]


def config_of(files: list[str]) -> dict:
    cfg: dict = {}
    for f in files:
        for key, value in yaml.safe_load(Path(f).read_text()).items():
            cfg[key] = {**cfg.get(key, {}), **value} if isinstance(value, dict) else value
    return resolve_config(validate_config(cfg))


def slurm_dry_run(workdir: Path, configfiles: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-n",
                           "--profile", str(ROOT / "profiles" / "slurm"), "--directory", str(workdir),
                           "--configfile", *configfiles], capture_output=True, text=True, cwd=ROOT)


def planned_resources(log: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry-run log lists."""
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in log.splitlines():
        line = line.strip()
        if m := re.match(r"^(?:local)?rule (\S+):$", line):
            jobs.append((m.group(1), {}))
        elif jobs and line.startswith("resources: "):
            jobs[-1][1].update(kv.split("=", 1) for kv in line[len("resources: "):].split(", "))
    return jobs


def test_there_is_a_config_per_setup_of_the_paper():
    assert {p.stem for p in PAPER} == {"qwen2.5-32b", "qwen2.5-32b-sft", "qwen2.5-math-7b-clip",
                                       "qwen2.5-math-7b-finetuning-data", "mistral-small-24b-simplerl"}


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_config_plans_gpu_jobs_for_models_only(path, tmp_path):
    proc = slurm_dry_run(tmp_path / "work", filled(path, tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = planned_resources(proc.stdout + proc.stderr)
    rules = {rule for rule, _ in jobs}
    assert {"generate", "dump", "fetch_hub_model", "shift_stats"} <= rules
    for rule, res in jobs:
        if rule in MODEL_RULES:
            assert int(res["gpu"]) >= 1 and res["slurm_partition"] == "gpu", (rule, res)
        elif rule != "all":
            assert int(res.get("gpu", 0)) == 0 and res["slurm_partition"] == "cpu", (rule, res)


@pytest.mark.parametrize("path", [p for p in PAPER if unset_models(p)], ids=lambda p: p.stem)
def test_unset_model_path_stops_every_command_with_its_key(path, tmp_path):
    proc = slurm_dry_run(tmp_path, [str(path)])
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out
    assert f"config key 'models.{unset_models(path)[0]}.path' is unset" in out
    with pytest.raises(UserError, match="is unset"):
        validate_config(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_sampling(path, tmp_path):
    cfg = config_of(filled(path, tmp_path))
    s = cfg["sampling"]
    assert (s["temperature"], s["backend"]) == (1.0, "vllm")
    if path.stem.endswith("finetuning-data"):  # the rollouts' own distribution
        assert s["top_p"] == 1.0
    else:
        assert (s["top_p"], s["n_samples"]) == (0.7, 32)
    assert s["max_new_tokens"] == (3500 if "math-7b" in path.stem else 8000)  # 7B: the base's 4k context
    assert s["vllm"]["tensor_parallel_size"] <= cfg["jobs"]["generate"]["gpu"]


def planned_thresholds(workdir: Path, name: str) -> dict[tuple[str, str, str], set[str]]:
    """(pair, dataset, direction) -> the thresholds of the targeted sweeps a dry run of config/paper/<name> plans."""
    proc = slurm_dry_run(workdir, [str(ROOT / "config" / "paper" / f"{name}.yaml")])
    assert proc.returncode == 0, proc.stderr[-3000:]
    planned: dict[tuple[str, str, str], set[str]] = {}
    for out in re.findall(r"output: \S*/crosssample/([^,\s]+)/targeted_shards/0-of-\d+\.parquet", proc.stdout):
        pair, dataset, direction, eps = out.split("/")
        planned.setdefault((pair, dataset, direction), set()).add(eps)
    return planned


@pytest.mark.parametrize("name, expected", [
    ("qwen2.5-32b", {("simplerl", "aime24"): ("0.03", "0.05"), ("simplerl", "aime25"): ("0.05", "0.05"),
                     ("dapo", "aime24"): ("0.08", "0.06"), ("dapo", "aime25"): ("0.1", "0.08"),
                     ("simplerl", "gpqa_diamond"): ("0.05", "0.05"), ("dapo", "gpqa_diamond"): ("0.05", "0.05")}),
    ("mistral-small-24b-simplerl", {("simplerl", "aime24"): ("0.002", "0.02"),
                                    ("simplerl", "aime25"): ("0.02", "0.02")}),
])
def test_paper_thresholds_plan_their_sweeps(tmp_path, name, expected):
    """Each sweep a dry run plans carries the paper's threshold for its pair, dataset and direction."""
    planned = planned_thresholds(tmp_path, name)
    assert planned == {(p, d, r): {f"eps{eps}"} for (p, d), pair in expected.items()
                       for r, eps in zip(("forward", "reverse"), pair)}
