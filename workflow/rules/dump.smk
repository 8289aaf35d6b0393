# Stage 5 (issue 3): per-token dump of every (base, tuned) pair on each dataset's responses.

PAIRS = {p["name"]: p for p in config["pairs"]}
DUMP = config["dump"]


def dump_settings():
    """The dump's analysis top_p and temperature: the sampling ones unless set under dump."""
    s = config["sampling"]
    return {
        "top_p": DUMP["top_p"] if DUMP["top_p"] is not None else s["top_p"],
        "temperature": DUMP["temperature"] if DUMP["temperature"] is not None else s["temperature"],
        "extra_top_p": DUMP["extra_top_p"], "batch_size": DUMP["batch_size"], "chunk": DUMP["chunk"],
        "dtype": DUMP["dtype"], "answer_marker": DUMP["answer_marker"],
    }


def responses_model(w):
    """Whose generations a pair's dump scores (dump.responses: tuned | base)."""
    return PAIRS[w.pair][DUMP["responses"]]


def dump_path(pair, dataset):
    return f"{RUN}/dump/{pair}/{dataset}.parquet"


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
