"""Rule run_config: the resolved config of the run, headed by the config files it was read from."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

import yaml
from tokenshift.files.atomic import atomic_file
from tokenshift.pipeline.rulectx import rule_context

smk = snakemake  # noqa: F821
with rule_context(smk) as log, atomic_file(smk.output[0]) as tmp:
    files = list(smk.params.files)
    header = "".join(f"#   {f}\n" for f in files) or "#   (none)\n"
    body = yaml.safe_dump(dict(smk.params.config), sort_keys=False, allow_unicode=True)
    tmp.write_text("# The config this run computed with: read from\n" + header
                   + "# with every key they leave out filled from the schema's defaults.\n" + body)
    print(f"config files: {files}", file=log)
