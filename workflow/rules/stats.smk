# Stage 6 (issue 3): shift statistics (tidy tables), the summary table, one rule per figure.
from tokenshift.figures.shift import FIGURES
from tokenshift.analysis.statistics import TABLES

STATS = config["stats"]
DUMPS = [(pair, dataset) for pair in PAIRS for dataset in config["datasets"]]
PRIMARY = STATS["primary_pairs"] or [config["pairs"][0]["name"]]


rule shift_stats:
    output:
        **{t: f"{RUN}/stats/{t}.parquet" for t in TABLES},
    input:
        lib("shift_stats.py"),
        dumps=[dump_path(p, d) for p, d in DUMPS],
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
        csv=report(f"{RUN}/tables/shift_summary.csv", category="Token shifts"),
        md=f"{RUN}/tables/shift_summary.md",
    input:
        lib("shift_summary.py"),
        table=f"{RUN}/stats/shift_summary.parquet",
    log:
        f"{RUN}/logs/stats/shift_summary_table.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/shift_summary.py"


for _fig, _spec in FIGURES.items():

    rule:
        name:
            f"figure_{_fig}"
        output:
            pdf=report(f"{RUN}/figures/{_fig}.pdf", category="Token shifts"),
            png=report(f"{RUN}/figures/{_fig}.png", category="Token shifts"),
        input:
            lib("shift_figure.py"),
            tables=[f"{RUN}/stats/{t}.parquet" for t in _spec.tables],
        params:
            figure=_fig,
            table_names=list(_spec.tables),
            primary=PRIMARY,
            compare=list(PAIRS),
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


ALL_TARGETS.extend([rules.shift_summary.output.csv, rules.shift_summary.output.md])
ALL_TARGETS.extend(f"{RUN}/figures/{f}.{ext}" for f in FIGURES for ext in ("pdf", "png"))
