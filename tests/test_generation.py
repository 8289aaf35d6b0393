"""Keyed batched generation: reproducible, batch-invariant, EOS handling."""

import torch
from tokenshift.generation.sampler import SamplingParams, encode_prompt, generate, sample_batch
from tokenshift.models.loading import load_model, load_tokenizer


def test_generation_is_reproducible_and_batch_invariant(tiny_pair):
    base, _ = tiny_pair
    tok, model = load_tokenizer(base), load_model(base)
    params = SamplingParams(seed=3, temperature=1.0, top_p=0.9, max_new_tokens=24)
    prompts, pids = ["12+34=", "5-3+99=", "10-20+30-40="], [4, 9, 11]
    a = generate(model, tok, prompts, pids, 3, params, batch_size=4)
    b = generate(model, tok, prompts, pids, 3, params, batch_size=9)
    assert a.equals(b)
    assert a.height == 9 and a["sample_idx"].to_list() == [0, 1, 2] * 3
    # one row on its own draws exactly what it drew inside a batch
    row = a.row(7, named=True)
    (alone, _), = sample_batch(model, len(tok), [encode_prompt(tok, row["prompt"])], torch.tensor([row["problem_id"]]),
                               torch.tensor([row["sample_idx"]]), params, tok.eos_token_id, tok.pad_token_id)
    assert alone == row["response_ids"]


def test_eos_terminates_and_is_kept(tiny_pair):
    base, _ = tiny_pair
    tok, model = load_tokenizer(base), load_model(base)
    params = SamplingParams(seed=0, temperature=1.0, top_p=1.0, max_new_tokens=40)
    df = generate(model, tok, ["1+1="] * 1, [0], 30, params, batch_size=30)
    for ids, reason in zip(df["response_ids"].to_list(), df["finish_reason"].to_list()):
        if reason == "stop":
            assert ids[-1] == tok.eos_token_id and tok.eos_token_id not in ids[:-1]
        else:
            assert len(ids) == 40 and tok.eos_token_id not in ids
    assert set(df["finish_reason"]) == {"stop", "length"}
