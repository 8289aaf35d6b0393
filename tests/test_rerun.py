"""A config change on a finished run reruns exactly the jobs that read the changed value (and the
scorecard, which reads nearly every table).

Dry runs (``-n``) against the finished ci run with a modified copy of config/ci.yaml: each
rule's params are the resolved values its script reads, so snakemake's params trigger only
fires where a value that matters changed. Plus the params contract of crosssample_run,
read back from the finished run's metadata.
"""

from __future__ import annotations

import ast
import base64
import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_snakemake
from tokenshift.figures.catalog import FIGURES
from tokenshift.pipeline.config import SCHEMA_PATH, resolve_config, validate_config

SHIFT_CONSUMERS = {"shift_summary", *(f"figure_{f}" for f in FIGURES)}


def _ci_config() -> dict:
    return yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())


def _resolved(cfg: dict) -> dict:
    return resolve_config(validate_config(copy.deepcopy(cfg), SCHEMA_PATH))


def _merge(cfg: dict, patch: dict) -> dict:
    out = copy.deepcopy(cfg)
    for key, value in patch.items():
        out[key] = _merge(out.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def dry_run(workdir: Path, tmp_path: Path, patch: dict) -> list[tuple[str, list[str]]]:
    """(rule, outputs) of every job a dry run on ``workdir`` schedules with ci.yaml patched by ``patch``."""
    cfg = tmp_path / "changed.yaml"
    cfg.write_text(yaml.safe_dump(_merge(_ci_config(), patch), sort_keys=True))
    proc = run_snakemake(workdir, "-n", configfile=str(cfg))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return parse_jobs(proc.stdout + proc.stderr)


def parse_jobs(log: str) -> list[tuple[str, list[str]]]:
    """Jobs of a dry-run log: each starts with ``rule <name>:`` (or ``localrule``), then its ``output:`` line."""
    jobs: list[tuple[str, list[str]]] = []
    for line in log.splitlines():
        if m := re.match(r"^(?:local)?rule (\S+):$", line.strip()):
            jobs.append((m.group(1), []))
        elif jobs and (m := re.match(r"^output: (.*)$", line.strip())):
            jobs[-1][1].extend(s.strip() for s in m.group(1).split(","))
    return jobs


def _rules(jobs) -> set[str]:
    """The rules a change reruns, besides run_config, which records the config and so reruns on any value."""
    return {rule for rule, _ in jobs} - {"all", "run_config"}


def _existing(workdir: Path, jobs) -> list[str]:
    return [out for _, outs in jobs for out in outs if (workdir / out).exists()]


def test_parse_jobs_reads_snakemakes_job_listing():
    log = ("Building DAG of jobs...\nJob stats:\njob count\n\n[Mon Nov 23 14:00:00 2026]\nrule dump:\n"
           "    input: a, b\n    output: results/x/dump/rl/eval.parquet\n    log: l\n    jobid: 3\n\n"
           "[Mon Nov 23 14:00:00 2026]\nlocalrule all:\n    input: results/x/dump/rl/eval.parquet\n    jobid: 0\n")
    assert parse_jobs(log) == [("dump", ["results/x/dump/rl/eval.parquet"]), ("all", [])]


def test_same_config_with_its_keys_reordered_schedules_nothing(ci_workdir, tmp_path):
    """``dry_run`` writes the config with sorted keys, an order unlike ci.yaml's and the schema's."""
    assert dry_run(ci_workdir, tmp_path, {}) == []


def test_spelling_out_resolved_values_schedules_nothing(ci_workdir, tmp_path):
    """A null that follows another key and that key's value written out are the same config."""
    cfg = _resolved(_ci_config())
    patch = {"dump": {k: cfg["dump"][k] for k in ("top_p", "temperature")},
             "crosssample": {k: cfg["crosssample"][k] for k in ("n_samples", "batch_size", "pairs")},
             "stats": {"primary_pairs": cfg["stats"]["primary_pairs"]}}
    assert dry_run(ci_workdir, tmp_path, patch) == []


def test_new_threshold_runs_only_its_sweeps(ci_workdir, tmp_path):
    cfg = _resolved(_ci_config())
    cs = cfg["crosssample"]
    new = max(cs["eps"]) + 0.5
    jobs = dry_run(ci_workdir, tmp_path, {"crosssample": {"eps": [*cs["eps"], new]}})
    sweeps = [outs for rule, outs in jobs if rule == "crosssample_run"]
    modes = 2 if cs["random_baseline"] else 1
    assert len(sweeps) == len(cs["pairs"]) * len(cfg["datasets"]) * len(cs["directions"]) * modes
    assert all(f"/eps{new:g}/" in out for outs in sweeps for out in outs)
    assert _existing(ci_workdir, [j for j in jobs if j[0] == "crosssample_run"]) == []
    assert _rules(jobs) == {"crosssample_run", "crosssample_table", "crosssample_targets", "crosssample_figures",
                            "scorecard"}


@pytest.mark.parametrize("patch, expected", [
    ({"crosssample": {"tolerance": 0.3}}, {"crosssample_targets", "scorecard"}),
    ({"crosssample": {"top_pairs": 3}}, {"crosssample_figures"}),
    ({"stats": {"hist_bins": 7}}, {"shift_stats", *SHIFT_CONSUMERS, "scorecard"}),
    ({"evaluation": {"bootstrap": 321}},
     {"accuracy_table", "accuracy_figure", "training_variants", "crosssample_table", "crosssample_targets",
      "crosssample_figures", "training_evolution", "scorecard"}),
])
def test_table_and_figure_settings_rerun_only_their_readers(ci_workdir, tmp_path, patch, expected):
    jobs = dry_run(ci_workdir, tmp_path, patch)
    assert _rules(jobs) == expected


def test_sampling_change_regenerates_but_does_not_retrain(ci_workdir, tmp_path):
    top_p = _resolved(_ci_config())["sampling"]["top_p"]
    jobs = dry_run(ci_workdir, tmp_path, {"sampling": {"top_p": round(top_p * 0.5, 3)}})
    rules = _rules(jobs)
    assert {"generate", "dump", "crosssample_run"} <= rules
    assert not {"prepare_dataset", "train_base", "train_rl", "train_sft"} & rules


def _metadata(workdir: Path, output: Path) -> dict:
    """Snakemake's record of the job that wrote ``output`` (.snakemake/metadata/<base64 of its path>)."""
    name = base64.urlsafe_b64encode(str(output.relative_to(workdir)).encode()).decode()
    return json.loads((workdir / ".snakemake" / "metadata" / name).read_text())


def test_crosssample_run_params_contract(ci_run, ci_workdir):
    """crosssample_run gets exactly the values its script reads (workflow/scripts/crosssample_run.py relies on it)."""
    out = next(ci_run.glob("crosssample/*/*/*/*/targeted.parquet"))
    params = [ast.literal_eval(p) for p in _metadata(ci_workdir, out)["params"]]
    dicts = sorted((p for p in params if isinstance(p, dict)), key=len)
    assert [sorted(d) for d in dicts] == [
        ["count", "index"],  # the job's shard
        ["dtype", "max_new_tokens", "temperature", "top_p"],
        ["batch_size", "budgets", "chunk", "chunk_size", "engine", "limit", "max_chunk", "n_samples", "noise", "rule",
         "tail"],
    ]
    assert dicts[0] == {"index": 0, "count": 1}
    cs = dicts[2]
    assert isinstance(cs["n_samples"], int) and isinstance(cs["batch_size"], int)
    # grader and device (str), seed (int), trust_remote_code (bool)
    assert sorted(type(p).__name__ for p in params if not isinstance(p, dict)) == ["bool", "int", "str", "str"]
