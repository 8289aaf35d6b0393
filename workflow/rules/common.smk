# Shared by every stage: the validated and resolved config, the run folder, where each input of a
# rule comes from (get_* functions over the producing rules' outputs), and the run's final targets.
import os
import re
import sys
from pathlib import Path


sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from tokenshift.pipeline.config import (  # noqa: E402
    FINETUNING,
    topp_set_name,
    checkpoint_steps,
    model_source,
    prompt_model,
    resolve_config,
    validate_config,
)
from tokenshift.errors import UserError  # noqa: E402
from tokenshift.files.digest import content_digest  # noqa: E402
from tokenshift.models.sources import locate_gguf  # noqa: E402
from tokenshift.pipeline.preflight import check_device, check_local_models  # noqa: E402
from tokenshift.pipeline.sources import script_sources  # noqa: E402

try:
    resolve_config(validate_config(config))
    check_local_models(config)
    if workflow.local_exec and not workflow.dryrun:  # a cluster's submit host need not have its jobs' GPUs
        check_device(config)
except UserError as exc:
    sys.exit(f"tokenshift: invalid config: {exc}")
logger.info(f"tokenshift: config read from {', '.join(map(os.path.relpath, workflow.configfiles)) or 'nothing'}; "
            "the schema fills every key they leave out")

RUN = f"results/{config['name']}"
ENVS = str(Path(workflow.basedir) / "envs")
PAIRS = {p["name"]: p for p in config["pairs"]}
MODEL_NAMES = "|".join(map(re.escape, config["models"]))  # wildcard constraint: the configured models
DATASETS = [d["name"] for d in config["datasets"]]
# Every prompt set of the run by name: the analysed ones and the one training learns from.
DATASET_ENTRIES = {d["name"]: d for d in [*config["datasets"], config["train_dataset"]]}
FT = config["finetuning_data"]
TOPP = config["topp_sampling"]
# Extra prompt sets, sampled and analysed at their own top_p for chosen pairs only, never evaluated or
# cross-sampled: name -> (top_p, pairs). The training prompts (paper Fig. 36-38), and the first
# dataset resampled at each of topp_sampling.top_p (Fig. 26).
EXTRA_SETS = {}
if FT["pairs"]:
    DATASET_ENTRIES[FINETUNING] = {**config["train_dataset"], "name": FINETUNING, "limit": FT["limit"]}
    EXTRA_SETS[FINETUNING] = (FT["top_p"], FT["pairs"])
for _tp in TOPP["top_p"] if TOPP["pairs"] else []:
    _name = topp_set_name(DATASETS[0], _tp)
    DATASET_ENTRIES[_name] = {**DATASET_ENTRIES[DATASETS[0]], "name": _name}
    EXTRA_SETS[_name] = (_tp, TOPP["pairs"])
TOPP_SETS = [d for d in EXTRA_SETS if d != FINETUNING]
TRAIN_DATA = config["train_dataset"]["name"]
VARIANTS = {v["name"]: v for v in config["train_variants"]}
VARIANT_RUNS = [[v, s] for v in VARIANTS for s in VARIANTS[v]["seeds"]]  # (variant, seed) of every training run
CHECKPOINT_DIR = f"{RUN}/models/rl_checkpoints/checkpoint-{{step}}"  # TRL's name for the folder of a saved step
CHECKPOINT_STEPS = checkpoint_steps(config["train_rl"]) if "rl" in config["models"] else []
EVOLUTION = config["evolution"]["enabled"]
DUMP = config["dump"]
STATS = config["stats"]
CS = config["crosssample"]
CS_MODES = ["targeted"] + (["random"] if CS["random_baseline"] else [])


# Report categories, in the paper's order (snakemake --report sorts them by name): what each output belongs to.
REPORT_SECTIONS = {
    "scorecard": "0 Scorecard",
    "shifts": "1 Where RL changes the distribution (paper 3.1)",
    "crosssample": "2 Which changes matter: cross-sampling (paper 3.2)",
    "mechanics": "3 Candidate sets, ranks and tails (paper 4.1-4.2)",
    "evolution": "4 Training evolution (paper 4.3)",
    "training": "5 Divergence-weighted training (paper 4.4, App. A.7)",
    "sft": "6 SFT against RL (paper App. A.3, A.8)",
    "robustness": "7 Robustness: sampling top-p (paper App. A.4)",
    "viewer": "8 Token viewer",
}


def pick(section, *keys):
    """The named values of a config section: a rule's params are exactly what its script reads."""
    return {k: section[k] for k in keys}


def fill(pattern, **wildcards):
    """One path of a rule's output pattern, with its wildcards filled in."""
    return expand(pattern, **wildcards)[0]


JOBS = config["jobs"]


def job_resources(stage):
    """What a torch job of ``stage`` asks a scheduler for (config jobs.<stage>): memory, minutes and GPUs,
    0 on CPU runs; the GPU type only when the config names one. The SLURM executor reads exactly these."""
    spec = JOBS[stage]
    res = {"mem_mb": spec["mem_mb"], "runtime": spec["runtime"], "gpu": spec["gpu"]}
    if spec["gpu"] and JOBS["gpu_model"]:
        res["gpu_model"] = JOBS["gpu_model"]
    return res


def shards(stage):
    return JOBS[stage]["shards"]


def shard_path(final, stage):
    """Where one shard job of ``stage`` writes its part of ``final`` (a path pattern, its log or benchmark);
    ``final`` itself when the stage is not sharded, so an unsharded run has no merge step."""
    n = shards(stage)
    root, ext = os.path.splitext(final)
    return final if n == 1 else f"{root}_shards/{{shard}}-of-{n}{ext}"


def shard_parts(final, stage):
    """Every part of ``final`` in shard order, its other wildcards left open (a merge rule's input)."""
    return expand(shard_path(final, stage), shard=range(shards(stage)), allow_missing=True)


def shard_param(stage):
    """A job's shard as its script reads it: {index, count}."""
    n = shards(stage)
    return lambda w: {"index": int(w.shard) if n > 1 else 0, "count": n}


def torch_params():
    """What every torch stage reads besides its own section: the device and whether to trust remote code."""
    return {"device": config["device"], "trust_remote_code": config["trust_remote_code"]}


def lib(script):
    """Library files that a script imports (transitively), declared as inputs so edits rerun it."""
    return script_sources(Path(workflow.basedir) / "workflow" / "scripts" / script)


def model_dir(name):
    """Where model ``name`` lives: its local path, the hub reference or GGUF conversion that stands for it,
    else the output of the rule that trains it (a training variant's, a checkpoint of train_rl, or
    train_base/rl/sft; sft_matched is train_sft at RL's budget)."""
    spec = config["models"][name]
    source = model_source(spec)
    if source == "path":
        return ancient(spec["path"])  # its content digest, not its time, decides reruns (fingerprints)
    if source == "hub":
        return fill(rules.fetch_hub_model.output.ref, model=name)
    if source == "gguf":
        return fill(rules.convert_gguf.output.model, model=name)
    if source == "variant":
        return fill(rules.train_variant.output.model, variant=spec["variant"], seed=spec["seed"])
    if source == "checkpoint":
        return CHECKPOINT_DIR.format(step=spec["checkpoint"])
    trained = {"base": rules.train_base.output[0], "rl": rules.train_rl.output.model,
               "sft": fill(rules.train_sft.output[0], sft="sft"),
               "sft_matched": fill(rules.train_sft.output[0], sft="sft_matched")}
    return trained[name]  # validation allows no other model without a source


def fingerprints(*names):
    """The content fingerprints of the named models that are given by path: an input of every rule that
    reads one, so that changed weights rerun it and a touched, copied or moved folder does not."""
    return [fill(rules.model_fingerprint.output[0], model=n) for n in dict.fromkeys(names)
            if model_source(config["models"][n]) == "path"]


def local_model_file(name):
    """The folder (path) or file (gguf) that a model given from outside the pipeline is read from."""
    spec = config["models"][name]
    return spec["path"] if "path" in spec else str(locate_gguf(spec["gguf"]))


def sft_settings(name):
    """train_sft's settings for model sft; for sft_matched, RL's budget: train_rl's optimiser steps, and
    as many solutions in all as RL drew prompts (prompts_per_step per rollout, one rollout per
    steps_per_generation steps), so SFT and RL see the same number of problems in the same number of steps."""
    if name == "sft":
        return config["train_sft"]
    rl = config["train_rl"]
    prompts = rl["prompts_per_step"] * -(-rl["steps"] // rl["steps_per_generation"])
    return {**config["train_sft"], "steps": rl["steps"], "batch_size": max(1, prompts // rl["steps"])}


def models_from(source):
    """Names of the configured models with a given source (path, hub, gguf), as a wildcard constraint."""
    names = [m for m, spec in config["models"].items() if model_source(spec) == source]
    return "|".join(map(re.escape, names)) or "^$"


def get_dataset(w):
    """The prepared prompt table of the ``dataset`` wildcard."""
    return fill(rules.prepare_dataset.output.table, dataset=w.dataset)


def get_train_data(w=None):
    return fill(rules.prepare_dataset.output.table, dataset=TRAIN_DATA)


def get_prepare_inputs(w):
    """A local dataset file, and the tokenizer that renders chat prompts (only for chat templates)."""
    entry, inputs = DATASET_ENTRIES[w.dataset], {}
    if "path" in entry:
        inputs["source"] = entry["path"]
    if entry["prompt"]["chat"]:
        inputs["tokenizer"] = model_dir(prompt_model(config))
        inputs["fingerprints"] = fingerprints(prompt_model(config))
    return inputs


def get_generations(model, dataset):
    return fill(GENERATIONS, model=model, dataset=dataset)


def get_scores(model, dataset):
    return fill(rules.score.output.scores, model=model, dataset=dataset)


def responses_model(w):
    """Whose generations a pair's dump scores (dump.responses: tuned | base)."""
    return PAIRS[w.pair][DUMP["responses"]]


def get_dump_inputs(w):
    """Both models of a pair, the responses it scores and their correctness."""
    pair, scored = PAIRS[w.pair], responses_model(w)
    return {"base": model_dir(pair["base"]), "tuned": model_dir(pair["tuned"]),
            "fingerprints": fingerprints(pair["base"], pair["tuned"]),
            "responses": get_generations(scored, w.dataset), "correct": get_scores(scored, w.dataset)}


def get_pair_models(w):
    """Both models of every pair, named <pair>_base and <pair>_tuned."""
    models = {f"{p}_{role}": PAIRS[p][role] for p in PAIRS for role in ("base", "tuned")}
    return {key: model_dir(name) for key, name in models.items()} | {"fingerprints": fingerprints(*models.values())}


DUMPS = [(pair, dataset) for pair in PAIRS for dataset in DATASETS] + [
    (pair, name) for name, (_, pairs) in EXTRA_SETS.items() for pair in pairs]


def sampling_settings(dataset):
    """The generate rule's sampling settings; an extra prompt set takes its own top_p."""
    s = pick(config["sampling"], "temperature", "top_p", "max_new_tokens", "n_samples", "batch_size", "dtype",
             "backend", "vllm")
    return {**s, "top_p": EXTRA_SETS[dataset][0]} if dataset in EXTRA_SETS else s


def dump_settings(dataset):
    """The dump rule's settings; an extra prompt set is analysed at the top_p it was sampled with."""
    s = pick(DUMP, "top_p", "temperature", "extra_top_p", "batch_size", "chunk", "dtype", "answer_marker")
    return {**s, "top_p": EXTRA_SETS[dataset][0]} if dataset in EXTRA_SETS else s


def get_dumps():
    """Every dump of the run, in the order of DUMPS."""
    return [fill(DUMP_FILE, pair=p, dataset=d) for p, d in DUMPS]


def stats_params():
    """What the statistics tables and figures read: the stats thresholds and the dump's analysis top_p."""
    s = {k: v for k, v in STATS.items() if k != "primary_pairs"}
    return {**s, "top_p": DUMP["top_p"]}


def get_stats_tables(names):
    return [getattr(rules.shift_stats.output, t) for t in names]


def cs_models(w):
    """(primary, intervention) model names: forward = base primary, reverse = tuned primary."""
    p = PAIRS[w.pair]
    return (p["base"], p["tuned"]) if w.direction == "forward" else (p["tuned"], p["base"])


def get_crosssample_inputs(w):
    """Models and prompts of one sweep; the random baseline also needs its targeted run's rate."""
    prim, inter = cs_models(w)
    inputs = {"primary": model_dir(prim), "intervention": model_dir(inter), "dataset": get_dataset(w),
              "fingerprints": fingerprints(prim, inter)}
    if w.mode == "random":
        inputs["targeted"] = fill(CS_RESPONSES, pair=w.pair, dataset=w.dataset, direction=w.direction, eps=w.eps,
                                  mode="targeted")
    return inputs


def sweep_eps(pair, dataset, direction):
    """The thresholds of one pair, dataset and direction as they appear in paths: those of the first
    crosssample.eps_by entry that matches (an absent pair or dataset matches all) and names the
    direction, else crosssample.eps."""
    for entry in CS["eps_by"]:
        if entry.get("pair", pair) == pair and entry.get("dataset", dataset) == dataset and direction in entry:
            return [f"{e:g}" for e in entry[direction]]
    return [f"{e:g}" for e in CS["eps"]]


# One entry per sweep of the run: the wildcards of a crosssample_run job (eps as a number).
CS_RUNS = [
    {"pair": p, "dataset": d, "direction": r, "mode": m, "eps": float(e)}
    for p in CS["pairs"] for d in DATASETS for r in CS["directions"] for e in sweep_eps(p, d, r) for m in CS_MODES
]


def get_crosssample_runs(output):
    """One file per sweep of the run (``output``: CS_RESPONSES or CS_SWITCHES), in the order of CS_RUNS."""
    return [fill(output, **{**k, "eps": f"{k['eps']:g}"}) for k in CS_RUNS]


def scorecard_models():
    """Models whose per-problem scores the scorecard reads on the first dataset: base and tuned of its RL-role
    pairs (the shift claims' precondition) and every training-variant model (C13), where evaluated."""
    card = config["scorecard"]
    roles = [PAIRS[p][m] for p in (card["dapo"], card["simplerl"]) if p for m in ("base", "tuned")]
    variants = [m for m, spec in config["models"].items() if "variant" in spec]
    return [m for m in dict.fromkeys(roles + variants) if m in config["evaluation"]["models"]]


def get_scorecard_inputs(w):
    """The tables the claims read; a stage the config leaves out is simply absent (its claims: not run)."""
    inputs = {"summary": rules.shift_summary.output.csv, "position": rules.shift_stats.output.position_profile,
              "entropy": rules.shift_stats.output.entropy_by_divergence, "weight_gap": rules.weight_gap.output.csv}
    if CS["enabled"]:
        inputs |= {"targets": rules.crosssample_targets.output.csv, "crosssampling": rules.crosssample_table.output.table}
    if EVOLUTION:
        inputs["evolution"] = rules.training_evolution.output.csv
    if VARIANTS:
        inputs["variants"] = rules.training_variants.output.csv
    inputs["scores"] = [get_scores(m, DATASETS[0]) for m in scorecard_models()]
    return inputs


def viewer_sweeps(pair, dataset):
    """(direction, eps) of the targeted sweeps the viewer shows for a pair and dataset: each direction's first
    threshold, if the pair is cross-sampled there."""
    if not CS["enabled"] or pair not in CS["pairs"] or dataset not in DATASETS:
        return []
    return [(d, sweep_eps(pair, dataset, d)[0]) for d in CS["directions"]]


def get_viewer_inputs(w):
    base = PAIRS[w.pair]["base"]
    inputs = {"dump": fill(DUMP_FILE, pair=w.pair, dataset=w.dataset), "tokenizer": model_dir(base),
              "fingerprints": fingerprints(base)}
    for direction, eps in viewer_sweeps(w.pair, w.dataset):
        sweep = dict(pair=w.pair, dataset=w.dataset, direction=direction, eps=eps, mode="targeted")
        inputs |= {f"{direction}_responses": fill(CS_RESPONSES, **sweep),
                   f"{direction}_switches": fill(CS_SWITCHES, **sweep)}
    return inputs


def viewer_title(w):
    pair = PAIRS[w.pair]
    return f"{w.pair}: {pair['base']} -> {pair['tuned']} on {w.dataset}"


def all_targets():
    """The final outputs of a run: what ``rule all`` asks for."""
    targets = [rules.run_config.output[0], rules.accuracy_table.output.table, rules.accuracy_figure.output.pdf,
               rules.shift_summary.output.csv, rules.shift_summary.output.md, rules.weight_gap.output.csv,
               rules.weight_gap.output.md, rules.scorecard.output.csv, rules.scorecard.output.md]
    targets += [fill(rules.viewer.output.html, pair=p, dataset=d) for p, d in DUMPS]
    for fig in SHIFT_FIGURES:
        out = getattr(rules, f"figure_{fig}").output
        targets += [out.pdf, out.png]
    if VARIANTS:
        out = rules.training_variants.output
        targets += [out.csv, out.md, out.tex, rules.training_curves.output.pdf, rules.training_curves.output.png]
    if EVOLUTION:
        out = rules.training_evolution.output
        targets += [out.csv, out.pdf, out.png]
    if CS["enabled"]:
        targets += [rules.crosssample_table.output.table, rules.crosssample_targets.output.csv,
                    rules.crosssample_targets.output.md]
        fig = rules.crosssample_figures.output
        targets += expand([fig.accuracy_pdf, fig.random_pdf, fig.pairs_pdf], pair=CS["pairs"], dataset=DATASETS)
    return targets
