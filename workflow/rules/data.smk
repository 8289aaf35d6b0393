# Stage 1: the run's resolved config, the prompt sets (generated, local files or hub datasets, with their
# prompt templates) and the organism's tokenizer.


rule run_config:
    """The config this run computes with, every default filled in (rewritten whenever a value changes; nothing
    reads it, so that changes nothing else). The files it was read from are named in its header and on the
    console; naming the same values in another file reruns nothing."""
    output:
        f"{RUN}/config.yaml",
    params:
        config=config,
    localrule: True
    log:
        f"{RUN}/logs/run_config.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/run_config.py"


rule organism_tokenizer:
    output:
        tokenizer=directory(f"{RUN}/models/tokenizer"),
    input:
        lib("organism_tokenizer.py"),
    log:
        f"{RUN}/logs/organism_tokenizer.log",
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/organism_tokenizer.py"


rule prepare_dataset:
    output:
        table=f"{RUN}/data/{{dataset}}.parquet",
    input:
        lib("prepare_dataset.py"),
        unpack(get_prepare_inputs),
    params:
        entry=lambda w: DATASET_ENTRIES[w.dataset],
        seed=config["seed"],
        trust_remote_code=config["trust_remote_code"],
    wildcard_constraints:
        dataset="|".join(map(re.escape, DATASET_ENTRIES)),
    log:
        f"{RUN}/logs/prepare_dataset/{{dataset}}.log",
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/prepare_dataset.py"
