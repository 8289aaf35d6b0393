"""Rule shift_stats: every tidy statistics table over every dump of the run (one scan setup, one job)."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.analysis.statistics import TABLES, StatsParams, scan_dumps
from tokenshift.files.parquet import write_parquet
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk):
    s = dict(smk.params.stats)
    params = StatsParams(**{**s, "tail_thresholds": tuple(s["tail_thresholds"])})
    lf = scan_dumps([(pair, dataset, path) for (pair, dataset), path in zip(smk.params.entries, smk.input.dumps)])
    for name, compute in TABLES.items():
        write_parquet(compute(lf, params), smk.output[name], metadata={"stats": s})
