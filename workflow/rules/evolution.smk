# Stage 6b: training evolution (paper Fig. 29): each checkpoint train_rl saved, scored against the base
# on the final rl model's responses (the dump rule's script, with the checkpoint as the tuned model).

# The final rl model's dump: the pair of base and rl (the config checks one exists when evolution is on).
RL_PAIR = next((p for p, spec in PAIRS.items() if (spec["base"], spec["tuned"]) == ("base", "rl")), None)


rule dump_checkpoint:
    output:
        dump=EVOLUTION_DUMP,
    input:
        lib("dump.py"),
        base=lambda w: model_dir("base"),
        tuned=lambda w: model_dir(f"rl_step{w.step}"),
        fingerprints=lambda w: fingerprints("base"),
        responses=lambda w: get_generations("rl", w.dataset),
        correct=lambda w: get_scores("rl", w.dataset),
    params:
        settings=lambda w: dump_settings(w.dataset),
        shard={"index": 0, "count": 1},
        **torch_params(),
    wildcard_constraints:
        step=r"\d+",
    threads: config["threads"]
    log:
        f"{RUN}/logs/dump_checkpoint/step{{step}}/{{dataset}}.log",
    benchmark:
        f"{RUN}/benchmarks/dump_checkpoint/step{{step}}/{{dataset}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        **job_resources("dump"),
    script:
        "../scripts/dump.py"


rule training_evolution:
    output:
        csv=report(f"{RUN}/tables/training_evolution.csv", category=REPORT_SECTIONS["evolution"],
                   caption="../report/training_evolution.rst"),
        pdf=report(f"{RUN}/figures/fig29_training_evolution.pdf", category=REPORT_SECTIONS["evolution"],
                   caption="../report/training_evolution.rst"),
        png=f"{RUN}/figures/fig29_training_evolution.png",
    input:
        lib("training_evolution.py"),
        checkpoint_dumps=expand(EVOLUTION_DUMP, dataset=DATASETS, step=CHECKPOINT_STEPS),
        final_dumps=[fill(DUMP_FILE, pair=RL_PAIR, dataset=d) for d in DATASETS],
        accuracy=rules.accuracy_table.output.table,
    params:
        steps=CHECKPOINT_STEPS,
        datasets=DATASETS,
        high=STATS["high"],
    log:
        f"{RUN}/logs/stats/training_evolution.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/training_evolution.py"
