# Stage 5: per-token dump of every (base, tuned) pair on each dataset's responses.


rule dump:
    output:
        dump=f"{RUN}/dump/{{pair}}/{{dataset}}.parquet",
    input:
        lib("dump.py"),
        unpack(get_dump_inputs),
    params:
        settings=pick(DUMP, "top_p", "temperature", "extra_top_p", "batch_size", "chunk", "dtype", "answer_marker"),
        **torch_params(),
    wildcard_constraints:
        pair="|".join(map(re.escape, PAIRS)),
    threads: config["threads"]
    log:
        f"{RUN}/logs/dump/{{pair}}/{{dataset}}.log",
    benchmark:
        f"{RUN}/benchmarks/dump/{{pair}}/{{dataset}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **heavy_resources(4000, 60),
    script:
        "../scripts/dump.py"
