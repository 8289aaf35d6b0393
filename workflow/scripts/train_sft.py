"""Rules train_base (from scratch, slipped solutions) and train_sft (from base, correct solutions)."""

from tokenshift.data.datasets import read_dataset
from tokenshift.data.organism import problems_from_frame
from tokenshift.files.atomic import atomic_dir
from tokenshift.models.loading import build_tiny_llama, load_model, load_tokenizer
from tokenshift.pipeline.rulectx import rule_context
from tokenshift.training.supervised import train_sft

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    cfg = smk.params.train
    if "init" in smk.input.keys():
        tok = load_tokenizer(smk.input.init)
        model = load_model(smk.input.init)
    else:
        tok = load_tokenizer(smk.input.tokenizer)
        m = smk.params.model
        model = build_tiny_llama(tok, m["hidden"], m["layers"], m["heads"], m["max_positions"], smk.params.seed)
    problems = problems_from_frame(read_dataset(smk.input.train))
    losses = train_sft(model, tok, problems, cfg["steps"], cfg["batch_size"], cfg["lr"], cfg["warmup"],
                       smk.params.slip_prob, smk.params.seed, log=log)
    print(f"final loss {sum(losses[-50:]) / len(losses[-50:]):.4f}", file=log)
    with atomic_dir(smk.output[0]) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
