# The run's final targets: what `rule all` asks for, after every rule that makes them.


def all_targets():
    """The final outputs of a run: what ``rule all`` asks for."""
    targets = [rules.run_config.output[0], rules.accuracy_table.output.table, rules.accuracy_figure.output.pdf,
               rules.shift_summary.output.csv, rules.shift_summary.output.md, rules.weight_gap.output.csv,
               rules.weight_gap.output.md, rules.scorecard.output.csv, rules.scorecard.output.md]
    targets += [fill(rules.viewer.output.html, pair=p, dataset=d) for p, d in DUMPS]
    for fig in SHIFT_FIGURES:
        out = getattr(rules, f"figure_{fig}").output
        targets += [out.pdf, out.png]
    if RUNS["variants"]:
        out = rules.training_variants.output
        targets += [out.csv, out.md, out.tex, rules.training_curves.output.pdf, rules.training_curves.output.png]
    if RUNS["evolution"]:
        out = rules.training_evolution.output
        targets += [out.csv, out.pdf, out.png]
    if RUNS["crosssample"]:
        targets += [rules.crosssample_table.output.table, rules.crosssample_targets.output.csv,
                    rules.crosssample_targets.output.md]
        fig = rules.crosssample_figures.output
        targets += expand([fig.accuracy_pdf, fig.random_pdf, fig.pairs_pdf], pair=CS["pairs"], dataset=DATASETS)
    return targets
