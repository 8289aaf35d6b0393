# Stage 9: what a researcher opens first: the reproduction scorecard (one row per claim of the paper).


rule scorecard:
    output:
        csv=report(f"{RUN}/tables/scorecard.csv", category=REPORT_SECTIONS["scorecard"], caption="../report/scorecard.rst"),
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
            "pair_models": {p: [PAIRS[p]["base"], PAIRS[p]["tuned"]]
                            for p in (config["scorecard"]["dapo"], config["scorecard"]["simplerl"]) if p},
            "variant_models": {m: [spec["variant"], spec["seed"]] for m, spec in config["models"].items()
                               if "variant" in spec},
        },
        score_models=scorecard_models(),
    log:
        f"{RUN}/logs/scorecard.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/scorecard.py"


rule viewer:
    output:
        html=report(f"{RUN}/viewer/{{pair}}/{{dataset}}.html", category=REPORT_SECTIONS["viewer"],
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
