# tokenshift: token-level analysis of what RLVR fine-tuning changes in a language model.
# This file is the table of contents; each stage lives in workflow/rules/<stage>.smk.
import os

from snakemake.utils import min_version

min_version("9.0")


# A config given with --configfile is the whole config (several files are layered in the order given);
# the schema fills what it leaves out. config/config.yaml is the config only when none is given.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


wildcard_constraints:
    model=r"[A-Za-z0-9_.-]+",
    dataset=r"[A-Za-z0-9_.-]+",
    pair=r"[A-Za-z0-9_.-]+",


include: "workflow/rules/config.smk"
include: "workflow/rules/paths.smk"
include: "workflow/rules/common.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/generate.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/dump.smk"
include: "workflow/rules/stats.smk"
include: "workflow/rules/evolution.smk"
include: "workflow/rules/crosssample.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/targets.smk"


# Hub downloads run where Snakemake runs: on a cluster the submit host has the internet that
# compute nodes often lack.
localrules:
    fetch_hub_model,
    prepare_dataset,


# device: cuda on a machine without one, or vLLM asked for but not installed, stops here, before any job (not
# in the first torch job). Only when jobs run on this machine: a cluster's submit host need not have the GPUs
# its jobs get, a conda job gets its own packages (envs/vllm.yaml for the vLLM jobs), and a dry run (which
# never starts onstart) plans anywhere.
onstart:
    if workflow.local_exec:
        try:
            check_device(config)
            if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
                check_vllm(config)
        except UserError as exc:
            sys.exit(f"tokenshift: invalid config: {exc}")


rule all:
    input:
        all_targets(),
    default_target: True
