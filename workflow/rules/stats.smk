# Stage 6: shift statistics (tidy tables), the summary table, one rule per figure.
from tokenshift.analysis.statistics import TABLES
from tokenshift.figures.catalog import FIGURES as SHIFT_FIGURES


rule shift_stats:
    output:
        **{t: f"{RUN}/stats/{t}.parquet" for t in TABLES},
    input:
        lib("shift_stats.py"),
        dumps=get_dumps(),
    params:
        entries=DUMPS,
        stats=stats_params(),
    log:
        f"{RUN}/logs/stats/shift_stats.log",
    benchmark:
        f"{RUN}/benchmarks/stats/shift_stats.tsv"
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=4000,
        runtime=10,
    script:
        "../scripts/shift_stats.py"


rule shift_summary:
    output:
        csv=report(f"{RUN}/tables/shift_summary.csv", category=REPORT_SECTIONS["shifts"], caption="../report/shift_summary.rst"),
        md=f"{RUN}/tables/shift_summary.md",
    input:
        lib("shift_summary.py"),
        table=rules.shift_stats.output.shift_summary,
    log:
        f"{RUN}/logs/stats/shift_summary_table.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/shift_summary.py"


rule weight_gap:
    output:
        csv=report(f"{RUN}/tables/weight_gap.csv", category=REPORT_SECTIONS["sft"], caption="../report/weight_gap.rst"),
        md=f"{RUN}/tables/weight_gap.md",
    input:
        lib("weight_gap.py"),
        unpack(get_pair_models),
    params:
        pairs=list(PAIRS.values()),
    log:
        f"{RUN}/logs/stats/weight_gap.log",
    benchmark:
        f"{RUN}/benchmarks/stats/weight_gap.tsv"
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        # tokenshift.analysis.weight_gap.memory_mb: 1000 MB for the interpreter with torch plus the largest block it
        # ever holds, min(2^22, the largest tensor) elements: three float64 buffers and the block read from each
        # model in its stored dtype (1118 MB for a bf16 32B pair); models not fetched yet count as 2^22 8-byte
        # elements (1168 MB).
        mem_mb=lambda wildcards, input: __import__("tokenshift.analysis.weight_gap", fromlist=["memory_mb"]).memory_mb(
            [path for key, path in input.items() if key.endswith(("_base", "_tuned"))]
        ),
        runtime=60,
    script:
        "../scripts/weight_gap.py"


# The report section of each shift figure (the paper's figure numbers: 1-4, 19, 22, 23, 26 in 3.1; 7, 17, 18,
# 21 in 4.1-4.2; 8-12 in App. A.3).
FIGURE_SECTIONS = {f: "sft" if "sft_vs_rl" in f else "mechanics" if f[3:5] in ("07", "17", "18", "21") else "shifts"
                   for f in SHIFT_FIGURES}
FIGURE_SECTIONS |= {"fig26_js_topp_sampling": "robustness", "fig28_js_truncated_vs_full": "robustness"}


for _fig, _spec in SHIFT_FIGURES.items():

    rule:
        name:
            f"figure_{_fig}"
        output:
            pdf=report(f"{RUN}/figures/{_fig}.pdf", category=REPORT_SECTIONS[FIGURE_SECTIONS[_fig]], caption=f"../report/{_fig}.rst"),
            png=report(f"{RUN}/figures/{_fig}.png", category=REPORT_SECTIONS[FIGURE_SECTIONS[_fig]], caption=f"../report/{_fig}.rst"),
        input:
            lib("shift_figure.py"),
            tables=get_stats_tables(_spec.tables),
        params:
            figure=_fig,
            table_names=list(_spec.tables),
            primary=STATS["primary_pairs"],
            compare=list(PAIRS),
            models={name: f"{p['base']} → {p['tuned']}" for name, p in PAIRS.items()},
            datasets=DATASETS[:1] + TOPP_SETS if _spec.topp else [d for d in DATASET_ENTRIES if d not in TOPP_SETS],
            stats=stats_params(),
        log:
            f"{RUN}/logs/figures/{_fig}.log",
        conda:
            f"{ENVS}/analysis.yaml"
        resources:
            mem_mb=1000,
            runtime=5,
        script:
            "../scripts/shift_figure.py"
