# Stage 7: cross-sampling sweeps (paper §3, App. A.5): directions x thresholds x budgets, targeted and random.
# With jobs.crosssample.shards > 1, shard jobs write parts and merge_crosssample joins them. With
# crosssample.tail: vllm a sweep (or each shard of it) is two jobs: crosssample_run (both HF models) decodes
# each row up to its handover, crosssample_tail (one vLLM engine of the primary) the rest.

SWEEP_WILDCARDS = {"direction": "forward|reverse", "mode": "targeted|random", "eps": r"[0-9.eE+-]+"}


# What crosssample_run writes as its responses: the finished table, or the rows up to their handover.
CS_PHASE1 = CS_HANDOVER if CS["tail"] == "vllm" else CS_RESPONSES


rule crosssample_run:
    output:
        responses=shard_path(CS_PHASE1, "crosssample"),
        switches=shard_path(CS_SWITCHES, "crosssample"),
    input:
        lib("crosssample_run.py"),
        unpack(get_crosssample_inputs),
    params:
        # Only what the script reads: a new threshold or a table setting leaves finished sweeps alone.
        cs=pick(CS, "budgets", "engine", "noise", "rule", "chunk", "chunk_size", "max_chunk", "n_samples", "limit",
                "batch_size", "tail"),
        sampling=pick(config["sampling"], "temperature", "top_p", "max_new_tokens", "dtype"),
        grader=lambda w: DATASET_ENTRIES[w.dataset]["grader"],
        seed=config["seed"],
        shard=shard_param("crosssample"),
        **torch_params(),
    wildcard_constraints:
        **SWEEP_WILDCARDS,
        shard=r"\d+",
    threads: config["threads"]
    log:
        shard_path(f"{RUN}/logs/crosssample/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}/{{mode}}.log", "crosssample"),
    benchmark:
        shard_path(f"{RUN}/benchmarks/crosssample/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}/{{mode}}.tsv",
                   "crosssample")
    conda:
        f"{ENVS}/crosssample.yaml"
    resources:
        **job_resources("crosssample"),
    script:
        "../scripts/crosssample_run.py"


if shards("crosssample") > 1:

    rule merge_crosssample:
        output:
            responses=CS_RESPONSES,
            switches=CS_SWITCHES,
        input:
            lib("merge_shards.py"),
            responses=shard_parts(CS_RESPONSES, "crosssample"),
            switches=shard_parts(CS_SWITCHES, "crosssample"),
        params:
            # A sweep sorts its responses by budget, problem and sample; switches stay in batch order.
            layout={"responses": {"row_groups": False, "sort_by": ["budget", "problem_id", "sample_idx"]},
                    "switches": {"row_groups": False, "sort_by": []}},
        wildcard_constraints:
            **SWEEP_WILDCARDS,
        log:
            f"{RUN}/logs/merge_crosssample/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}/{{mode}}.log",
        conda:
            f"{ENVS}/crosssample.yaml"
        resources:
            mem_mb=4000,
            runtime=30,
        script:
            "../scripts/merge_shards.py"


if CS["tail"] == "vllm":

    rule crosssample_tail:
        output:
            responses=shard_path(CS_RESPONSES, "crosssample"),
        input:
            lib("crosssample_tail.py"),
            handover=shard_path(CS_HANDOVER, "crosssample"),
            primary=lambda w: model_dir(cs_models(w)[0]),
            fingerprints=lambda w: fingerprints(cs_models(w)[0]),
            dataset=get_dataset,
        params:
            sampling=pick(config["sampling"], "temperature", "top_p", "max_new_tokens", "dtype", "vllm"),
            grader=lambda w: DATASET_ENTRIES[w.dataset]["grader"],
            seed=config["seed"],
            limit=CS["limit"],
            **torch_params(),
        wildcard_constraints:
            **SWEEP_WILDCARDS,
            shard=r"\d+",
        threads: config["threads"]
        log:
            shard_path(f"{RUN}/logs/crosssample_tail/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}/{{mode}}.log",
                       "crosssample"),
        benchmark:
            shard_path(f"{RUN}/benchmarks/crosssample_tail/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}/{{mode}}.tsv",
                       "crosssample")
        conda:
            f"{ENVS}/vllm.yaml"
        resources:
            **job_resources("crosssample_tail"),
        script:
            "../scripts/crosssample_tail.py"


rule crosssample_table:
    output:
        table=report(
            f"{RUN}/tables/crosssampling.csv",
            category=REPORT_SECTIONS["crosssample"],
            caption="../report/crosssampling_table.rst",
        ),
    input:
        lib("crosssample_table.py"),
        responses=get_crosssample_runs(CS_RESPONSES),
    params:
        runs=CS_RUNS,
        n_boot=config["evaluation"]["bootstrap"],
        seed=config["seed"],
    log:
        f"{RUN}/logs/crosssample_table.log",
    conda:
        f"{ENVS}/crosssample.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/crosssample_table.py"


rule crosssample_targets:
    output:
        csv=report(
            f"{RUN}/tables/crosssample_targets.csv",
            category=REPORT_SECTIONS["crosssample"],
            caption="../report/crosssample_targets.rst",
        ),
        md=f"{RUN}/tables/crosssample_targets.md",
        tex=f"{RUN}/tables/crosssample_targets.tex",
    input:
        lib("crosssample_targets.py"),
        table=rules.crosssample_table.output.table,
        accuracy=rules.accuracy_table.output.table,
    params:
        pairs=[PAIRS[p] for p in CS["pairs"]],
        tolerance=CS["tolerance"],
    log:
        f"{RUN}/logs/crosssample_targets.log",
    conda:
        f"{ENVS}/crosssample.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/crosssample_targets.py"


rule crosssample_figures:
    output:
        accuracy_pdf=report(
            f"{RUN}/figures/crosssample_accuracy_{{pair}}_{{dataset}}.pdf",
            category=REPORT_SECTIONS["crosssample"],
            caption="../report/crosssample_accuracy.rst",
        ),
        accuracy_png=f"{RUN}/figures/crosssample_accuracy_{{pair}}_{{dataset}}.png",
        random_pdf=report(
            f"{RUN}/figures/crosssample_random_{{pair}}_{{dataset}}.pdf",
            category=REPORT_SECTIONS["crosssample"],
            caption="../report/crosssample_random.rst",
        ),
        random_png=f"{RUN}/figures/crosssample_random_{{pair}}_{{dataset}}.png",
        pairs_pdf=report(
            f"{RUN}/figures/crosssample_pairs_{{pair}}_{{dataset}}.pdf",
            category=REPORT_SECTIONS["crosssample"],
            caption="../report/crosssample_pairs.rst",
        ),
        pairs_png=f"{RUN}/figures/crosssample_pairs_{{pair}}_{{dataset}}.png",
    input:
        lib("crosssample_figures.py"),
        table=rules.crosssample_table.output.table,
        accuracy=rules.accuracy_table.output.table,
        tokenizer=lambda w: model_dir(PAIRS[w.pair]["base"]),
        fingerprints=lambda w: fingerprints(PAIRS[w.pair]["base"]),
        # The switched-token histogram is drawn at each direction's first threshold.
        switches=lambda w: [
            fill(CS_SWITCHES, pair=w.pair, dataset=w.dataset, direction=d, eps=sweep_eps(w.pair, w.dataset, d)[0],
                 mode="targeted")
            for d in CS["directions"]
        ],
    params:
        pair=lambda w: PAIRS[w.pair],
        directions=CS["directions"],
        top=CS["top_pairs"],
    wildcard_constraints:
        pair="|".join(map(re.escape, CS["pairs"])),
        dataset="|".join(DATASETS),
    log:
        f"{RUN}/logs/crosssample_figures/{{pair}}_{{dataset}}.log",
    conda:
        f"{ENVS}/crosssample.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/crosssample_figures.py"
