"""Batches from memory: the estimate against measured allocations, the plan's properties, its wiring.

Peaks are measured with a dispatch mode that sees every tensor an operator creates and is told by
its storage's finalizer when it is freed: torch's CPU allocations never reach tracemalloc, and this
counts exactly what a CUDA caching allocator would be asked for. The models' weights, loaded before
measuring, are not counted (nor are they by the plan: it sizes from the memory left after loading).
Unless a test says otherwise, top-p runs as on a GPU (the full stable sort; the CPU shortcuts of
tokenshift.distributions.topp are switched off), since that is the path the plan is for.
"""

from __future__ import annotations

import logging
import math
import weakref
from types import SimpleNamespace

import polars as pl
import pyarrow.parquet as pq
import pytest
import tokenshift.distributions.topp as topp
import torch
from hypothesis import given
from hypothesis import strategies as st
from tokenshift.analysis.divergence import DivergenceConfig
from tokenshift.analysis.dump import DumpOptions, Pair, Scorer, make_batches, run_dump, score_batch
from tokenshift.crosssample import CrossSpec, cross_sample_batch, cross_sample_dataset
from tokenshift.data.datasets import problems_frame
from tokenshift.data.organism import make_problems
from tokenshift.errors import UserError
from tokenshift.files.shards import Shard
from tokenshift.generation.sampler import SamplingParams, batches, generate, left_pad, sample_batch, write_responses
from tokenshift.models import memory
from tokenshift.models.decoding import Decoder
from tokenshift.models.loading import load_model, load_tokenizer
from tokenshift.models.memory import SAFETY, ModelShape, plan_batch, rebatch, row_estimate, stage_batch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from transformers import LlamaConfig, LlamaForCausalLM

V = 4096  # large against the model, so the logits' terms weigh as they do at a real vocabulary


class PeakMemory(TorchDispatchMode):
    """Peak bytes of the storages created by operators inside the ``with`` block (views and in-place
    results share their input's storage and are not counted again)."""

    def __init__(self) -> None:
        super().__init__()
        self.live: dict[int, weakref.finalize] = {}
        self.now = 0
        self.peak = 0

    def _free(self, key: int, n: int) -> None:
        self.live.pop(key, None)
        self.now -= n

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        inputs = {t.untyped_storage().data_ptr() for t in tensors}
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key, n = storage.data_ptr(), storage.nbytes()
            if n and key not in inputs and key not in self.live:
                self.live[key] = weakref.finalize(storage, self._free, key, n)
                self.now += n
                self.peak = max(self.peak, self.now)
        return out


@pytest.fixture
def gpu_topp(monkeypatch):
    """Top-p as a GPU computes it: the full stable sort of the vocabulary."""
    monkeypatch.setattr(topp, "_fast_ok", lambda *args, **kwargs: False)


def tiny(seed: int, dtype: torch.dtype = torch.float32, attention: str = "sdpa") -> LlamaForCausalLM:
    """A Llama with grouped keys and values and roughly a real model's proportions, and a large vocabulary."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=V, hidden_size=128, intermediate_size=344, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024)
    cfg._attn_implementation = attention
    return LlamaForCausalLM(cfg).to(dtype).eval()


def ragged_prompts(rows: int, longest: int) -> list[list[int]]:
    return [list(range(1, longest + 1 - 5 * (i % 2))) for i in range(rows)]


def test_sizes_from_a_real_config():
    shape = ModelShape.of(SimpleNamespace(num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                                          hidden_size=1536, intermediate_size=8960, vocab_size=151936))
    assert (shape.head_dim, shape.attention) == (128, "sdpa")
    est = row_estimate("generate", shape, "bfloat16", 1000, 7000)
    # 2 x 28 layers x 2 KV heads x 128 x 8000 slots x 2 bytes: the cache of an 8k-token row
    assert est.kv_cache == 2 * 28 * 2 * 128 * 8000 * 2
    assert est.carried == 151936 * (2 + 4)
    two = row_estimate("crosssample", shape, "bfloat16", 1000, 7000, models=2, chunk=8, switches=64)
    assert two.kv_cache == 2 * 28 * 2 * 128 * (8000 + 65 * 8) * 2 * 2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_kv_cache_and_carried_logits_are_the_tensors_themselves(dtype):
    """The cache term is exactly the bytes of past_key_values after P + N slots, its copy one layer of it,
    and the carried term exactly a logits row and a probability row."""
    model = tiny(0, dtype)
    rows, p, n = 3, 20, 6
    ids, mask = left_pad(ragged_prompts(rows, p), 0)
    with torch.no_grad():
        dec = Decoder(model, V)
        logits = dec.prefill(ids, mask)
        for _ in range(n):
            logits = dec.extend(torch.ones(rows, 1, dtype=torch.long), torch.ones(rows, 1, dtype=torch.bool))[:, 0]
    probs = torch.softmax(logits.float(), dim=-1)
    cache = sum(t.nbytes for layer in dec.cache.layers for t in (layer.keys, layer.values))
    est = row_estimate("generate", ModelShape.of(model.config), dtype, p, n)
    assert est.kv_cache * rows == cache
    assert est.kv_copy * rows * model.config.num_hidden_layers == cache
    assert est.carried * rows == logits.nbytes + probs.nbytes


def within(estimate: int, measured: int) -> None:
    """The stated accuracy: never below the measured peak, never twice it."""
    assert measured <= estimate <= 2 * measured, (estimate, measured, estimate / measured)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("p, n", [(40, 24), (8, 120), (160, 8)])
def test_generation_estimate_bounds_the_measured_peak(gpu_topp, dtype, attention, p, n):
    model = tiny(0, dtype, attention)
    rows = 4
    with PeakMemory() as mem:
        sample_batch(model, V, ragged_prompts(rows, p), torch.arange(rows), torch.zeros(rows, dtype=torch.long),
                     SamplingParams(0, 1.0, 0.9, n), eos_id=-1, pad_id=0)  # no EOS: every row runs all n steps
    within(row_estimate("generate", ModelShape.of(model.config), dtype, p, n).peak(rows), mem.peak)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("engine, chunk", [("fast", 4), ("naive", 1)])
@pytest.mark.parametrize("p, n", [(40, 24), (8, 120)])
def test_crosssample_estimate_bounds_the_measured_peak(gpu_topp, dtype, engine, chunk, p, n):
    prim, inter = tiny(0, dtype), tiny(1, dtype)
    rows, budget = 4, 3
    spec = CrossSpec(eps=0.0, budgets=(0, budget), sampling=SamplingParams(0, 1.0, 0.9, n), engine=engine,
                     chunk="fixed", chunk_size=chunk, max_chunk=chunk)
    with PeakMemory() as mem:
        results, _ = cross_sample_batch(prim, inter, V, ragged_prompts(rows, p), torch.arange(rows),
                                        torch.zeros(rows, dtype=torch.long), spec, eos_id=-1, pad_id=0)
    assert all(r.n_effective == budget for r in results)  # eps 0: every row spends its budget
    est = row_estimate("crosssample", ModelShape.of(prim.config), dtype, p, n, models=2, chunk=chunk,
                       switches=budget if engine == "fast" else 0)
    within(est.peak(rows), mem.peak)


def dump_batch(p: int, n: int, rows: int = 4):
    gen = torch.Generator().manual_seed(0)
    df = pl.DataFrame({"prompt_ids": ragged_prompts(rows, p),
                       "response_ids": [torch.randint(0, V, (n - 5 * (i % 3),), generator=gen).tolist()
                                        for i in range(rows)]})
    batch, = make_batches(df, [list(range(rows))], 0)
    return batch


@pytest.mark.parametrize("path", ["cpu", "gpu"])  # gpu: the full-sort path top-p takes off the CPU
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("p, n, chunk", [(40, 24, 16), (8, 300, 16), (100, 30, 8)])
def test_dump_peak_is_chunked_and_bounded_by_the_estimate(monkeypatch, path, dtype, p, n, chunk):
    """The dump's peak per batch: the trunks' activations and hidden states per row, plus one chunk of
    logits and statistics whatever the number of positions (never a [positions x vocab] tensor)."""
    if path == "gpu":
        monkeypatch.setattr(topp, "_fast_ok", lambda *args, **kwargs: False)
    base, tuned = tiny(0, dtype), tiny(1, dtype)
    pair = Pair(Scorer(base, V, "base"), Scorer(tuned, V, "tuned"), None, V, base.device)
    batch = dump_batch(p, n)
    rows, positions = len(batch.rows), batch.tokens.shape[0]
    with PeakMemory() as mem:
        score_batch(pair, batch, DivergenceConfig(chunk=chunk))
    est = row_estimate("dump", ModelShape.of(base.config), dtype, p, n, models=2, chunk=chunk)
    assert mem.peak <= est.peak(rows)
    if path == "gpu":  # the CPU path's top-p shortcuts need far less than the sort the plan is sized for
        within(est.peak(rows), mem.peak)
    if positions >= 1000:
        assert mem.peak < positions * V * 4  # less than one model's logits of the batch in float32


def fixed_shape(layers, kv_heads, group, head_dim, vocab) -> SimpleNamespace:
    return SimpleNamespace(num_hidden_layers=layers, num_attention_heads=kv_heads * group, num_key_value_heads=kv_heads,
                           head_dim=head_dim, hidden_size=kv_heads * group * head_dim,
                           intermediate_size=3 * kv_heads * group * head_dim, vocab_size=vocab)


configs = st.builds(fixed_shape, st.integers(1, 64), st.integers(1, 16), st.sampled_from([1, 2, 4, 8]),
                    st.sampled_from([32, 64, 128, 256]), st.integers(100, 300_000))
stages = st.sampled_from(["generate", "dump", "crosssample"])
dtypes = st.sampled_from(["float32", "bfloat16", "float16", "float64"])


@given(stage=stages, cfg=configs, dtype=dtypes, p=st.integers(1, 8192), n=st.integers(0, 32768),
       upper=st.integers(1, 1024), free=st.integers(0, 2 ** 38), more=st.integers(0, 2 ** 38),
       models=st.integers(1, 2), chunk=st.integers(1, 64), switches=st.integers(0, 1024))
def test_plan_is_monotone_bounded_and_at_least_one_row(stage, cfg, dtype, p, n, upper, free, more, models, chunk,
                                                       switches):
    args = (stage, cfg, dtype, p, n, upper)
    kw = {"models": models, "chunk": chunk, "switches": switches}
    est = row_estimate(stage, ModelShape.of(cfg), dtype, p, n, models, chunk, switches)
    assert plan_batch(*args, None, **kw).batch == upper  # the CPU keeps the configured batch
    budget = int(SAFETY * free)
    if est.peak(1) > budget:
        with pytest.raises(UserError) as err:
            plan_batch(*args, free, **kw)
        assert "\n" not in str(err.value) and "GiB" in str(err.value)
        return
    plan = plan_batch(*args, free, **kw)
    assert 1 <= plan.batch <= upper
    assert est.peak(plan.batch) <= budget  # it fits
    assert plan.batch == upper or est.peak(plan.batch + 1) > budget  # and is the largest that does
    assert est.peak(plan.batch) <= plan.batch * plan.per_row + plan.fixed
    assert plan_batch(*args, free + more, **kw).batch >= plan.batch  # more memory, never fewer rows


def test_a_row_that_does_not_fit_is_one_line_with_the_estimate_and_the_free_memory():
    cfg = fixed_shape(28, 2, 6, 128, 151936)
    with pytest.raises(UserError) as err:
        plan_batch("generate", cfg, "bfloat16", 2000, 30000, 64, free_bytes=2 ** 30)
    msg = str(err.value)
    assert "\n" not in msg
    assert "2000 + 30000 tokens needs about" in msg and "only 1.00 GiB is free" in msg


@given(groups=st.lists(st.lists(st.integers(), min_size=1, max_size=40), max_size=6), size=st.integers(1, 50))
def test_rebatch_cuts_each_batch_into_the_fewest_even_parts(groups, size):
    out = rebatch(groups, size)
    assert [x for b in out for x in b] == [x for g in groups for x in g]
    assert all(1 <= len(b) <= size for b in out)
    assert len(out) == sum(-(-len(g) // size) for g in groups)
    for g in groups:  # each part within one configured batch, so no batch depends on where a shard starts
        parts, out = out[:-(-len(g) // size)], out[-(-len(g) // size):]
        assert [x for b in parts for x in b] == list(g)
        assert max(map(len, parts)) - min(map(len, parts)) <= 1


@given(n=st.integers(1, 100), size=st.integers(1, 12), count=st.integers(1, 6), data=st.data())
def test_sharded_jobs_plan_the_unsharded_jobs_batches(n, size, count, data):
    """At the configured size the shard's batches are kept; at any planned size the shards' batches, in
    shard order, are the unsharded job's (so merged parts are the unsharded file whenever plans agree)."""
    configured = list(batches(list(range(n)), size))
    shard = Shard(data.draw(st.integers(0, count - 1)), count)
    assert rebatch(shard.take(configured), size) == shard.take(configured)
    planned = data.draw(st.integers(1, size))
    assert [b for i in range(count) for b in rebatch(Shard(i, count).take(configured), planned)] == \
        rebatch(configured, planned)


def test_cpu_keeps_the_configured_batch_and_logs_the_estimate(caplog):
    model = tiny(0)
    with caplog.at_level(logging.INFO, logger="tokenshift.models.memory"):
        assert stage_batch("generate", [model], 30, 50, 7) == 7
    assert "generate: batch 7 rows (batch_size 7; about" in caplog.text and "configured batch_size" in caplog.text


# Batch composition changes no output: the planner splits batches on a GPU only, so here the free
# memory is faked to the bytes that fit a few rows, and the outputs are compared with the unsplit run.


class FakeGpu:
    """stage_batch as on a GPU whose free memory fits ``rows`` rows of the estimate (None: the CPU's plan)."""

    def __init__(self, monkeypatch) -> None:
        self.rows: int | None = None
        self.planned: list[int] = []
        real = memory.plan_batch

        def plan(stage, cfg, dtype, p, n, upper, free, models=1, chunk=1, switches=0):
            if self.rows is not None:
                est = row_estimate(stage, ModelShape.of(cfg), dtype, p, n, models, chunk, switches)
                free = math.ceil(est.peak(self.rows) / SAFETY) + 1
            result = real(stage, cfg, dtype, p, n, upper, free, models, chunk, switches)
            self.planned.append(result.batch)
            return result

        monkeypatch.setattr(memory, "plan_batch", plan)


PROMPTS, PIDS = ["12+34=", "5-6+77-1=", "9=", "88-9="], [0, 1, 2, 3]


def test_generation_is_the_same_in_planned_batches(tiny_pair, monkeypatch):
    gpu = FakeGpu(monkeypatch)
    tok, model = load_tokenizer(tiny_pair[0]), load_model(tiny_pair[0])
    params = SamplingParams(seed=3, temperature=1.0, top_p=0.9, max_new_tokens=16)
    whole = generate(model, tok, PROMPTS, PIDS, 3, params, batch_size=12)
    gpu.rows = 5
    split = generate(model, tok, PROMPTS, PIDS, 3, params, batch_size=12)
    assert gpu.planned == [12, 5]
    assert split.equals(whole)


def test_crosssample_is_the_same_in_planned_batches(tiny_pair, monkeypatch):
    gpu = FakeGpu(monkeypatch)
    data = problems_frame(make_problems(3, seed=1, min_steps=1, max_steps=2))
    spec = CrossSpec(eps=0.05, budgets=(0, 2, 6), sampling=SamplingParams(5, 1.0, 0.9, 12), n_samples=3,
                     batch_size=9, device="cpu")
    whole, switches, _ = cross_sample_dataset(*tiny_pair, data, spec)
    gpu.rows = 2
    split, split_switches, _ = cross_sample_dataset(*tiny_pair, data, spec)
    assert gpu.planned == [9, 2]
    assert split.equals(whole)
    # Same switches; their JS scores, computed in float32 over batches of other shapes, equal to rounding.
    assert switches.height > 0
    assert split_switches.drop("score").equals(switches.drop("score"))
    assert (split_switches["score"] - switches["score"]).abs().max() < 1e-6


def test_dump_is_the_same_in_planned_batches(tiny_pair, monkeypatch, tmp_path):
    gpu = FakeGpu(monkeypatch)
    tok, model = load_tokenizer(tiny_pair[0]), load_model(tiny_pair[0])
    responses = generate(model, tok, PROMPTS, PIDS, 2, SamplingParams(3, 1.0, 0.9, 16), batch_size=8)
    write_responses(responses, tmp_path / "responses.parquet", tok, {})
    gpu.planned.clear()
    for name, rows in (("whole", None), ("split", 3)):
        gpu.rows = rows
        run_dump(*tiny_pair, tmp_path / "responses.parquet", tmp_path / f"{name}.parquet", DivergenceConfig(),
                 DumpOptions(batch_size=8))
    assert gpu.planned == [8, 3]
    assert pq.ParquetFile(tmp_path / "split.parquet").num_row_groups == 3
    assert pq.read_table(tmp_path / "split.parquet").equals(pq.read_table(tmp_path / "whole.parquet"))
