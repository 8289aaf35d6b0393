# Stage 2: training: the organism's base from scratch; the DAPO RL model (with checkpoints) and the SFT
# comparison model from base, whatever base is (the organism, or a pretrained model).


rule train_base:
    output:
        directory(f"{RUN}/models/base"),
    input:
        lib("train_sft.py"),
        train=get_train_data,
        tokenizer=rules.organism_tokenizer.output.tokenizer,
    params:
        model=config["model"],
        train=config["train_base"],
        slip_prob=config["task"]["slip_prob"],
        organism=True,
        seed=config["seed"],
        **torch_params(),
    threads: config["threads"]
    log:
        f"{RUN}/logs/train_base.log",
    benchmark:
        f"{RUN}/benchmarks/train_base.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **job_resources("train"),
    script:
        "../scripts/train_sft.py"


rule train_sft:
    output:
        directory(f"{RUN}/models/{{sft}}"),
    input:
        lib("train_sft.py"),
        train=get_train_data,
        init=lambda w: model_dir("base"),
        fingerprints=lambda w: fingerprints("base"),
    params:
        train=lambda w: sft_settings(w.sft),
        slip_prob=0.0,
        organism=config["train_dataset"].get("generator") == "organism",
        seed=config["seed"] + 2,
        **torch_params(),
    wildcard_constraints:
        sft="sft|sft_matched",
    threads: config["threads"]
    log:
        f"{RUN}/logs/train_{{sft}}.log",
    benchmark:
        f"{RUN}/benchmarks/train_{{sft}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **job_resources("train"),
    script:
        "../scripts/train_sft.py"


rule train_rl:
    output:
        model=directory(f"{RUN}/models/rl"),
        checkpoints=[directory(CHECKPOINT_DIR.format(step=n)) for n in CHECKPOINT_STEPS],
    input:
        lib("train_rl.py"),
        train=get_train_data,
        init=lambda w: model_dir("base"),
        fingerprints=lambda w: fingerprints("base"),
    params:
        train=config["train_rl"],
        grader=config["train_dataset"]["grader"],
        seed=config["seed"] + 1,
        checkpoint_root=lambda w, output: os.path.dirname(output.checkpoints[0]),
        **torch_params(),
    threads: config["threads"]
    log:
        f"{RUN}/logs/train_rl.log",
    benchmark:
        f"{RUN}/benchmarks/train_rl.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **job_resources("train"),
    script:
        "../scripts/train_rl.py"


rule train_variant:
    output:
        model=directory(f"{RUN}/models/variants/{{variant}}/s{{seed}}"),
        metrics=f"{RUN}/train/{{variant}}/{{seed}}/metrics.csv",
    input:
        lib("train_variant.py"),
        train=get_train_data,
        init=lambda w: model_dir("base"),
        fingerprints=lambda w: fingerprints("base"),
    params:
        train=lambda w: {**config["train_rl"], "steps": VARIANTS[w.variant]["steps"]},
        variant=lambda w: VARIANTS[w.variant],
        grader=config["train_dataset"]["grader"],
        seed=lambda w: config["seed"] + 1 + int(w.seed),
        **torch_params(),
    wildcard_constraints:
        variant="|".join(map(re.escape, VARIANTS)) or "^$",
        seed=r"\d+",
    threads: config["threads"]
    log:
        f"{RUN}/logs/train_variant/{{variant}}/{{seed}}.log",
    benchmark:
        f"{RUN}/benchmarks/train_variant/{{variant}}/{{seed}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **job_resources("train"),
    script:
        "../scripts/train_variant.py"


rule training_curves:
    output:
        pdf=report(f"{RUN}/figures/training_curves.pdf", category=REPORT_SECTIONS["training"],
                   caption="../report/training_curves.rst"),
        png=f"{RUN}/figures/training_curves.png",
    input:
        lib("training_curves.py"),
        metrics=[fill(rules.train_variant.output.metrics, variant=v, seed=s) for v, s in VARIANT_RUNS],
    params:
        runs=VARIANT_RUNS,
    log:
        f"{RUN}/logs/figures/training_curves.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/training_curves.py"
