# Stage 3: n sampled responses per prompt, keyed noise (reproducible, = cross-sampling at budget 0).


rule generate:
    output:
        responses=f"{RUN}/generations/{{model}}/{{dataset}}.parquet",
    input:
        lib("generate.py"),
        model=lambda w: model_dir(w.model),
        dataset=get_dataset,
    params:
        sampling=pick(config["sampling"], "temperature", "top_p", "max_new_tokens", "n_samples", "batch_size", "dtype",
                      "backend", "vllm"),
        seed=config["seed"],
        **torch_params(),
    wildcard_constraints:
        model=MODEL_NAMES,
    threads: config["threads"]
    log:
        f"{RUN}/logs/generate/{{model}}/{{dataset}}.log",
    benchmark:
        f"{RUN}/benchmarks/generate/{{model}}/{{dataset}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **heavy_resources(4000, 60),
    script:
        "../scripts/generate.py"
