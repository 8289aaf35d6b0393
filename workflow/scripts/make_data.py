"""Rule make_data: disjoint train/eval problem sets and the organism's tokenizer."""

from tokenshift.data.datasets import problems_frame
from tokenshift.data.organism import split_problems
from tokenshift.data.vocab import save_char_tokenizer
from tokenshift.files.atomic import atomic_dir
from tokenshift.files.parquet import write_parquet
from tokenshift.pipeline.rulectx import rule_context

with rule_context(snakemake) as log:  # noqa: F821
    task = snakemake.params.task  # noqa: F821
    train, evals = split_problems(task["n_train"], task["n_eval"], snakemake.params.seed,  # noqa: F821
                                  task["min_steps"], task["max_steps"])
    write_parquet(problems_frame(train), snakemake.output.train)  # noqa: F821
    write_parquet(problems_frame(evals), snakemake.output.eval)  # noqa: F821
    with atomic_dir(snakemake.output.tokenizer) as tmp:  # noqa: F821
        save_char_tokenizer(tmp)
    print(f"{len(train)} train / {len(evals)} eval problems", file=log)
