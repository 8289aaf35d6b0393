# Stage 2: the model organism: SFT base, DAPO RL model (with checkpoints), SFT comparison model.


rule train_base:
    output:
        directory(f"{RUN}/models/base"),
    input:
        lib("train_sft.py"),
        train=rules.make_data.output.train,
        tokenizer=rules.make_data.output.tokenizer,
    params:
        model=config["model"],
        train=config["train_base"],
        slip_prob=config["task"]["slip_prob"],
        seed=config["seed"],
    threads: config["threads"]
    log:
        f"{RUN}/logs/train_base.log",
    benchmark:
        f"{RUN}/benchmarks/train_base.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **heavy_resources(4000, 60),
    script:
        "../scripts/train_sft.py"


rule train_sft:
    output:
        directory(f"{RUN}/models/sft"),
    input:
        lib("train_sft.py"),
        train=rules.make_data.output.train,
        init=rules.train_base.output[0],
    params:
        train=config["train_sft"],
        slip_prob=0.0,
        seed=config["seed"] + 2,
    threads: config["threads"]
    log:
        f"{RUN}/logs/train_sft.log",
    benchmark:
        f"{RUN}/benchmarks/train_sft.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **heavy_resources(4000, 60),
    script:
        "../scripts/train_sft.py"


rule train_rl:
    output:
        model=directory(f"{RUN}/models/rl"),
        checkpoints=directory(f"{RUN}/models/rl_checkpoints"),
    input:
        lib("train_rl.py"),
        train=rules.make_data.output.train,
        init=rules.train_base.output[0],
    params:
        train=config["train_rl"],
        seed=config["seed"] + 1,
    threads: config["threads"]
    log:
        f"{RUN}/logs/train_rl.log",
    benchmark:
        f"{RUN}/benchmarks/train_rl.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **heavy_resources(8000, 120),
    script:
        "../scripts/train_rl.py"
