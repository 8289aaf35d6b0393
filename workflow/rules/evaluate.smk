# Stage 4: per-sample correctness, Mean@n with bootstrap CIs, accuracy figure.

EVAL_MODELS = config["evaluation"]["models"]


rule score:
    output:
        scores=f"{RUN}/eval/{{model}}/{{dataset}}.parquet",
    input:
        lib("score.py"),
        generations=GENERATIONS,
        dataset=get_dataset,
    params:
        grader=lambda w: DATASET_ENTRIES[w.dataset]["grader"],
    wildcard_constraints:
        model=MODEL_NAMES,
    log:
        f"{RUN}/logs/score/{{model}}/{{dataset}}.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/score.py"


rule accuracy_table:
    output:
        table=report(f"{RUN}/tables/accuracy.csv", category=REPORT_SECTIONS["crosssample"], caption="../report/accuracy_table.rst"),
    input:
        lib("accuracy_table.py"),
        scores=[get_scores(m, d) for m in EVAL_MODELS for d in DATASETS],
    params:
        models=[m for m in EVAL_MODELS for _ in DATASETS],
        datasets=[d for _ in EVAL_MODELS for d in DATASETS],
        n_boot=config["evaluation"]["bootstrap"],
        seed=config["seed"],
    log:
        f"{RUN}/logs/accuracy_table.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/accuracy_table.py"


rule accuracy_figure:
    output:
        pdf=report(f"{RUN}/figures/accuracy.pdf", category=REPORT_SECTIONS["crosssample"], caption="../report/accuracy_figure.rst"),
        png=report(f"{RUN}/figures/accuracy.png", category=REPORT_SECTIONS["crosssample"], caption="../report/accuracy_figure.rst"),
    input:
        lib("accuracy_figure.py"),
        table=rules.accuracy_table.output.table,
    log:
        f"{RUN}/logs/accuracy_figure.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/accuracy_figure.py"


rule training_variants:
    output:
        csv=report(f"{RUN}/tables/training_variants.csv", category=REPORT_SECTIONS["training"],
                   caption="../report/training_variants.rst"),
        md=f"{RUN}/tables/training_variants.md",
        tex=f"{RUN}/tables/training_variants.tex",
    input:
        lib("training_variants.py"),
        accuracy=rules.accuracy_table.output.table,
        metrics=[fill(rules.train_variant.output.metrics, variant=v, seed=s) for v, s in VARIANT_RUNS],
    params:
        runs=VARIANT_RUNS,
        models=[[m, spec["variant"], spec["seed"]] for m, spec in config["models"].items() if "variant" in spec],
        # The first variant is the baseline the others are compared with.
        baseline=config["train_variants"][0]["name"] if config["train_variants"] else "",
    log:
        f"{RUN}/logs/training_variants.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/training_variants.py"
