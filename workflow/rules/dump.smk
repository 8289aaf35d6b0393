# Stage 5 (issue 3): per-token dump of every (base, tuned) pair on each dataset's responses.

rule dump:
    output:
        f"{RUN}/dump/{{pair}}/{{dataset}}.parquet",
    input:
        lib("dump.py"),
        base=lambda w: model_dir(PAIRS[w.pair]["base"]),
        tuned=lambda w: model_dir(PAIRS[w.pair]["tuned"]),
        responses=lambda w: f"{RUN}/generations/{responses_model(w)}/{w.dataset}.parquet",
        correct=lambda w: f"{RUN}/eval/{responses_model(w)}/{w.dataset}.parquet",
    params:
        settings=dump_settings(),
        trust_remote_code=config["trust_remote_code"],
    wildcard_constraints:
        pair="|".join(PAIRS),
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
