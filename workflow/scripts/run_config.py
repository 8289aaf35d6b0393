"""Rule run_config: the resolved config of the run."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import yaml
from tokenshift.files.atomic import atomic_file
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk), atomic_file(smk.output[0]) as tmp:
    body = yaml.safe_dump(dict(smk.params.config), sort_keys=False, allow_unicode=True)
    tmp.write_text("# The config this run computed with: the config files given (named on the console as\n"
                   "# 'tokenshift: config read from ...'), every key they leave out filled from the schema.\n" + body)
