# Stage 6: shift statistics (tidy tables), the summary table, one rule per figure.
from tokenshift.analysis.statistics import TABLES
from tokenshift.figures.shift import FIGURES as SHIFT_FIGURES


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
        csv=report(f"{RUN}/tables/shift_summary.csv", category="Token shifts", caption="../report/shift_summary.rst"),
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
        csv=report(f"{RUN}/tables/weight_gap.csv", category="Weights", caption="../report/weight_gap.rst"),
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
        mem_mb=4000,
        runtime=60,
    script:
        "../scripts/weight_gap.py"


for _fig, _spec in SHIFT_FIGURES.items():

    rule:
        name:
            f"figure_{_fig}"
        output:
            pdf=report(f"{RUN}/figures/{_fig}.pdf", category="Token shifts", caption=f"../report/{_fig}.rst"),
            png=report(f"{RUN}/figures/{_fig}.png", category="Token shifts", caption=f"../report/{_fig}.rst"),
        input:
            lib("shift_figure.py"),
            tables=get_stats_tables(_spec.tables),
        params:
            figure=_fig,
            table_names=list(_spec.tables),
            primary=STATS["primary_pairs"],
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
