# Stage 3: n sampled responses per prompt, keyed noise (reproducible, = cross-sampling at budget 0).
# With jobs.generate.shards > 1, shard jobs write parts and merge_generate joins them.

rule generate:
    output:
        responses=shard_path(GENERATIONS, "generate"),
    input:
        lib("generate.py"),
        model=lambda w: model_dir(w.model),
        fingerprints=lambda w: fingerprints(w.model),
        dataset=get_dataset,
    params:
        sampling=lambda w: sampling_settings(w.dataset),
        seed=config["seed"],
        shard=shard_param("generate"),
        **torch_params(),
    wildcard_constraints:
        model=MODEL_NAMES,
        shard=r"\d+",
    threads: config["threads"]
    log:
        shard_path(f"{RUN}/logs/generate/{{model}}/{{dataset}}.log", "generate"),
    benchmark:
        shard_path(f"{RUN}/benchmarks/generate/{{model}}/{{dataset}}.tsv", "generate")
    conda:
        f"{ENVS}/vllm.yaml" if config["sampling"]["backend"] == "vllm" else f"{ENVS}/torch.yaml"
    resources:
        **job_resources("generate"),
    script:
        "../scripts/generate.py"


if shards("generate") > 1:

    rule merge_generate:
        output:
            responses=GENERATIONS,
        input:
            lib("merge_shards.py"),
            responses=shard_parts(GENERATIONS, "generate"),
        params:
            layout={"responses": {"row_groups": False, "sort_by": []}},
        wildcard_constraints:
            model=MODEL_NAMES,
        log:
            f"{RUN}/logs/merge_generate/{{model}}/{{dataset}}.log",
        conda:
            f"{ENVS}/torch.yaml"
        resources:
            mem_mb=4000,
            runtime=30,
        script:
            "../scripts/merge_shards.py"
