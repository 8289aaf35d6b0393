# Stage: cross-sampling sweeps (paper §3, App. A.5): directions x thresholds x budgets, targeted and random.
rule crosssample_run:
    output:
        responses=f"{CS_DIR}/{{mode}}.parquet",
        switches=f"{CS_DIR}/{{mode}}_switches.parquet",
    input:
        lib("crosssample_run.py"),
        unpack(cs_inputs),
    params:
        cs=CS,
        sampling=config["sampling"],
        seed=config["seed"],
        trust_remote_code=config["trust_remote_code"],
    wildcard_constraints:
        direction="forward|reverse",
        mode="targeted|random",
        eps=r"[0-9.eE+-]+",
    threads: config["threads"]
    log:
        f"{RUN}/logs/crosssample/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}/{{mode}}.log",
    benchmark:
        f"{RUN}/benchmarks/crosssample/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}/{{mode}}.tsv"
    conda:
        f"{ENVS}/crosssample.yaml"
    resources:
        **heavy_resources(4000, 120),
    script:
        "../scripts/crosssample_run.py"


_CS_KEYS = [
    {"pair": p, "dataset": d, "direction": r, "mode": m, "eps": float(e)}
    for p in CS_PAIR_NAMES for d in config["datasets"] for r in CS["directions"] for e in CS_EPS for m in CS_MODES
]


rule crosssample_table:
    output:
        table=report(f"{RUN}/tables/crosssampling.csv", category="Cross-sampling"),
        targets_csv=report(f"{RUN}/tables/crosssample_targets.csv", category="Cross-sampling"),
        targets_md=f"{RUN}/tables/crosssample_targets.md",
        targets_tex=f"{RUN}/tables/crosssample_targets.tex",
    input:
        lib("crosssample_table.py"),
        accuracy=f"{RUN}/tables/accuracy.csv",
        responses=[f"{RUN}/crosssample/{k['pair']}/{k['dataset']}/{k['direction']}/eps{k['eps']:g}/{k['mode']}.parquet"
                   for k in _CS_KEYS],
    params:
        runs=_CS_KEYS,
        pairs=config["pairs"],
        tolerance=CS["tolerance"],
        n_boot=config["evaluation"]["bootstrap"],
        seed=config["seed"],
    log:
        f"{RUN}/logs/crosssample_table.log",
    conda:
        f"{ENVS}/crosssample.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/crosssample_table.py"




rule crosssample_figures:
    output:
        accuracy_pdf=report(f"{RUN}/figures/crosssample_accuracy_{{pair}}_{{dataset}}.pdf", category="Cross-sampling"),
        accuracy_png=f"{RUN}/figures/crosssample_accuracy_{{pair}}_{{dataset}}.png",
        random_pdf=report(f"{RUN}/figures/crosssample_random_{{pair}}_{{dataset}}.pdf", category="Cross-sampling"),
        random_png=f"{RUN}/figures/crosssample_random_{{pair}}_{{dataset}}.png",
        pairs_pdf=report(f"{RUN}/figures/crosssample_pairs_{{pair}}_{{dataset}}.pdf", category="Cross-sampling"),
        pairs_png=f"{RUN}/figures/crosssample_pairs_{{pair}}_{{dataset}}.png",
    input:
        lib("crosssample_figures.py"),
        table=rules.crosssample_table.output.table,
        accuracy=f"{RUN}/tables/accuracy.csv",
        tokenizer=lambda w: model_dir(PAIRS[w.pair]["base"]),
        switches=lambda w: [f"{RUN}/crosssample/{w.pair}/{w.dataset}/{d}/eps{CS_EPS[0]}/targeted_switches.parquet"
                            for d in CS["directions"]],
    params:
        pair=lambda w: PAIRS[w.pair],
        directions=CS["directions"],
        top=CS["top_pairs"],
    log:
        f"{RUN}/logs/crosssample_figures/{{pair}}_{{dataset}}.log",
    conda:
        f"{ENVS}/crosssample.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/crosssample_figures.py"


if CS["enabled"]:
    ALL_TARGETS.extend([rules.crosssample_table.output.table, rules.crosssample_table.output.targets_md])
    ALL_TARGETS.extend(
        f"{RUN}/figures/crosssample_{kind}_{p}_{d}.pdf"
        for kind in ("accuracy", "random", "pairs") for p in CS_PAIR_NAMES for d in config["datasets"]
    )
