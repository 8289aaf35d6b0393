# Shared by every stage: where each input of a rule comes from (get_* functions over the producing rules'
# outputs, called when the DAG is built) and the settings each rule passes to its script.


def pick(section, *keys):
    """The named values of a config section: a rule's params are exactly what its script reads."""
    return {k: section[k] for k in keys}


def fill(pattern, **wildcards):
    """One path of a rule's output pattern, with its wildcards filled in."""
    return expand(pattern, **wildcards)[0]


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
    """A local dataset file, and the tokenizer that renders chat prompts; for the organism, whose tokenizer
    knows only the task's characters, its tokenizer, so that a prompt it cannot encode fails here."""
    entry, inputs, model = DATASET_ENTRIES[w.dataset], {}, prompt_model(config)
    if "path" in entry:
        inputs["source"] = entry["path"]
    if entry["prompt"]["chat"]:
        inputs["tokenizer"] = model_dir(model)
        inputs["fingerprints"] = fingerprints(model)
    elif model_source(config["models"][model]) is None:  # trained here from the organism's tokenizer
        inputs["tokenizer"] = rules.organism_tokenizer.output.tokenizer
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
    """One file per sweep of the run (``output``: a sweep path pattern, CS_RESPONSES), in the order of CS_RUNS."""
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
    if RUNS["crosssample"]:
        inputs |= {"targets": rules.crosssample_targets.output.csv, "crosssampling": rules.crosssample_table.output.table}
    if RUNS["evolution"]:
        inputs["evolution"] = rules.training_evolution.output.csv
    if RUNS["variants"]:
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
