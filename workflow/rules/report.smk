# Stage 9: what a researcher opens first: the reproduction scorecard (one row per claim of the paper).


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
    return inputs


rule scorecard:
    output:
        csv=report(f"{RUN}/tables/scorecard.csv", category="Scorecard", caption="../report/scorecard.rst"),
        md=f"{RUN}/tables/scorecard.md",
    input:
        lib("scorecard.py"),
        unpack(get_scorecard_inputs),
    params:
        roles={
            "dataset": DATASETS[0],
            "dapo": config["scorecard"]["dapo"],
            "simplerl": config["scorecard"]["simplerl"],
            "sft": config["scorecard"]["sft"],
            "weighted_variants": [v for v in VARIANTS if VARIANTS[v]["weighting"] != "none"],
            "baseline_variant": next(iter(VARIANTS), None),
        },
    log:
        f"{RUN}/logs/scorecard.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/scorecard.py"


def viewer_sweeps(pair, dataset):
    """(direction, eps) of the targeted sweeps the viewer shows for a pair and dataset: each direction's first
    threshold, if the pair is cross-sampled there."""
    if not CS["enabled"] or pair not in CS["pairs"] or dataset not in DATASETS:
        return []
    return [(d, sweep_eps(pair, dataset, d)[0]) for d in CS["directions"]]


def get_viewer_inputs(w):
    inputs = {"dump": fill(DUMP_FILE, pair=w.pair, dataset=w.dataset), "tokenizer": model_dir(PAIRS[w.pair]["base"])}
    for direction, eps in viewer_sweeps(w.pair, w.dataset):
        sweep = dict(pair=w.pair, dataset=w.dataset, direction=direction, eps=eps, mode="targeted")
        inputs |= {f"{direction}_responses": fill(CS_RESPONSES, **sweep),
                   f"{direction}_switches": fill(CS_SWITCHES, **sweep)}
    return inputs


def viewer_title(w):
    pair = PAIRS[w.pair]
    return f"{w.pair}: {pair['base']} -> {pair['tuned']} on {w.dataset}"


rule viewer:
    output:
        html=report(f"{RUN}/viewer/{{pair}}/{{dataset}}.html", category="Token viewer",
                    subcategory="{pair}", labels={"pair": "{pair}", "dataset": "{dataset}"},
                    caption="../report/viewer.rst"),
    input:
        lib("viewer.py"),
        unpack(get_viewer_inputs),
    params:
        limit=config["viewer"]["max_responses"],
        high=STATS["high"],
        sweeps=lambda w: viewer_sweeps(w.pair, w.dataset),
        title=viewer_title,
        subtitle=lambda w: (f"First {config['viewer']['max_responses']} responses of {PAIRS[w.pair][DUMP['responses']]}; "
                            f"tokens shaded by JS between the top-p truncated distributions (log scale, 0 to ln 2)"),
        trust_remote_code=config["trust_remote_code"],
    wildcard_constraints:
        pair="|".join(map(re.escape, PAIRS)),
    log:
        f"{RUN}/logs/viewer/{{pair}}/{{dataset}}.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/viewer.py"
