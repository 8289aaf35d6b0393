# Stage 1: the organism's task data and tokenizer.


rule make_data:
    output:
        train=f"{RUN}/data/train.parquet",
        eval=f"{RUN}/data/eval.parquet",
        tokenizer=directory(f"{RUN}/models/tokenizer"),
    input:
        lib("make_data.py"),
    params:
        task=pick(config["task"], "n_train", "n_eval", "min_steps", "max_steps"),
        seed=config["seed"],
    log:
        f"{RUN}/logs/make_data.log",
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/make_data.py"
