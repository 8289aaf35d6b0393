# Stage 5: per-token dump of every pair on each dataset's responses.
# With jobs.dump.shards > 1, shard jobs write parts and merge_dump joins them.

rule dump:
    output:
        dump=shard_path(DUMP_FILE, "dump"),
    input:
        lib("dump.py"),
        unpack(get_dump_inputs),
    params:
        settings=lambda w: dump_settings(w.dataset),
        shard=shard_param("dump"),
        **torch_params(),
    wildcard_constraints:
        pair="|".join(map(re.escape, PAIRS)),
        shard=r"\d+",
    threads: config["threads"]
    log:
        shard_path(f"{RUN}/logs/dump/{{pair}}/{{dataset}}.log", "dump"),
    benchmark:
        shard_path(f"{RUN}/benchmarks/dump/{{pair}}/{{dataset}}.tsv", "dump")
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **job_resources("dump"),
    script:
        "../scripts/dump.py"


if shards("dump") > 1:

    rule merge_dump:
        output:
            dump=DUMP_FILE,
        input:
            lib("merge_shards.py"),
            dump=shard_parts(DUMP_FILE, "dump"),
        params:
            layout={"dump": {"row_groups": True, "sort_by": []}},  # the dump writes a row group per batch
        wildcard_constraints:
            pair="|".join(map(re.escape, PAIRS)),
        log:
            f"{RUN}/logs/merge_dump/{{pair}}/{{dataset}}.log",
        conda:
            f"{ENVS}/torch.yaml"
        resources:
            mem_mb=4000,
            runtime=60,
        script:
            "../scripts/merge_shards.py"
