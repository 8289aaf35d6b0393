# Stage 4: per-sample correctness, Mean@n with bootstrap CIs, accuracy figure.

EVAL_MODELS = config["evaluation"]["models"]


rule score:
    output:
        f"{RUN}/eval/{{model}}/{{dataset}}.parquet",
    input:
        lib("score.py"),
        generations=f"{RUN}/generations/{{model}}/{{dataset}}.parquet",
        dataset=f"{RUN}/data/{{dataset}}.parquet",
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
        report(f"{RUN}/tables/accuracy.csv", category="Accuracy"),
    input:
        lib("accuracy_table.py"),
        scores=expand(f"{RUN}/eval/{{model}}/{{dataset}}.parquet", model=EVAL_MODELS, dataset=config["datasets"]),
    params:
        models=[m for m in EVAL_MODELS for _ in config["datasets"]],
        datasets=[d for _ in EVAL_MODELS for d in config["datasets"]],
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
        pdf=report(f"{RUN}/figures/accuracy.pdf", category="Accuracy"),
        png=report(f"{RUN}/figures/accuracy.png", category="Accuracy"),
    input:
        lib("accuracy_figure.py"),
        table=rules.accuracy_table.output[0],
    log:
        f"{RUN}/logs/accuracy_figure.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/accuracy_figure.py"


ALL_TARGETS.extend([rules.accuracy_table.output[0], rules.accuracy_figure.output.pdf])
