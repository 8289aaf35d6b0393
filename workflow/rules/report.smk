# Stage 9: what a researcher opens first: the reproduction scorecard (one row per claim of the paper).


def get_scorecard_inputs(w):
    """The tables the claims read; a stage the config leaves out is simply absent (its claims: not run)."""
    inputs = {"summary": rules.shift_summary.output.csv, "position": rules.shift_stats.output.position_profile,
              "entropy": rules.shift_stats.output.entropy_by_divergence, "weight_gap": rules.weight_gap.output.csv}
    if CS["enabled"]:
        inputs |= {"targets": rules.crosssample_targets.output.csv, "crosssampling": rules.crosssample_table.output.table}
    if EVOLUTION:
        inputs["evolution"] = rules.training_evolution.output.csv
    if VARIANTS:
        inputs["variants"] = rules.training_variants.output.csv
    return inputs


rule scorecard:
    output:
        csv=report(f"{RUN}/tables/scorecard.csv", category="Scorecard", caption="../report/scorecard.rst"),
        md=f"{RUN}/tables/scorecard.md",
    input:
        lib("scorecard.py"),
        unpack(get_scorecard_inputs),
    params:
        roles={
            "dataset": DATASETS[0],
            "dapo": config["scorecard"]["dapo"],
            "simplerl": config["scorecard"]["simplerl"],
            "sft": config["scorecard"]["sft"],
            "weighted_variants": [v for v in VARIANTS if VARIANTS[v]["weighting"] != "none"],
            "baseline_variant": next(iter(VARIANTS), None),
        },
    log:
        f"{RUN}/logs/scorecard.log",
    conda:
        f"{ENVS}/analysis.yaml"
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/scorecard.py"
