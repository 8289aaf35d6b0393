"""Rules train_base (the organism from scratch, on slipped solutions) and train_sft (from base, on correct
or reference solutions)."""

# ruff: noqa: E402 -- the imports below must follow bind_threads
from tokenshift.pipeline.threads import bind_threads

bind_threads(snakemake)  # first: polars and BLAS size their thread pools when imported

from tokenshift.data.datasets import read_dataset
from tokenshift.data.organism import problems_from_frame
from tokenshift.files.atomic import atomic_dir
from tokenshift.models.device import resolve_device
from tokenshift.models.loading import build_tiny_llama, load_model, load_tokenizer
from tokenshift.pipeline.rulectx import rule_context
from tokenshift.training.supervised import organism_pairs, reference_pairs, train_sft

smk = snakemake  # noqa: F821
with rule_context(smk) as log:
    cfg, p = smk.params.train, smk.params
    data = read_dataset(smk.input.train)
    if p.organism:  # solutions made on the fly, a carry slipped with slip_prob
        examples, make_pair = problems_from_frame(data), organism_pairs(p.slip_prob)
    else:
        examples, make_pair = reference_pairs(data), lambda e, rng: e
    if "init" in smk.input.keys():
        tok = load_tokenizer(smk.input.init, p.trust_remote_code)
        model = load_model(smk.input.init, device=p.device, trust_remote_code=p.trust_remote_code)
    else:
        tok = load_tokenizer(smk.input.tokenizer)
        m = p.model
        model = build_tiny_llama(tok, m["hidden"], m["layers"], m["heads"], m["max_positions"], p.seed)
        model.to(resolve_device(p.device))
    losses = train_sft(model, tok, examples, cfg["steps"], cfg["batch_size"], cfg["lr"], cfg["warmup"], p.seed,
                       make_pair, log=log)
    print(f"final loss {sum(losses[-50:]) / len(losses[-50:]):.4f}", file=log)
    with atomic_dir(smk.output[0]) as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
