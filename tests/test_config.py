"""Config schema: defaults filled, every default config valid, errors name the key; derived values resolved once."""

import argparse
import copy
import re

import pytest
import yaml
from conftest import ROOT
from tokenshift.commands import dump as dump_command
from tokenshift.errors import UserError
from tokenshift.pipeline.config import SCHEMA_PATH, resolve_config, schema_default, validate_config

SCHEMA = SCHEMA_PATH


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")) + sorted((ROOT / "config").glob("*/*.yaml")))
def test_shipped_configs_are_valid(path):
    if path.name == "schema.yaml":
        pytest.skip("the schema itself")
    cfg = yaml.safe_load(path.read_text())
    if any(spec.get("path", "") is None for spec in cfg.get("models", {}).values()):
        # A paper setup whose model the user trains: refused until set (tests/test_paper_configs.py
        # validates it with the path filled in).
        with pytest.raises(UserError, match="is unset"):
            validate_config(cfg, SCHEMA)
        return
    resolve_config(validate_config(cfg, SCHEMA))


def _leaves(node, path=()):
    """Dotted keys and values of a config; a free-form map (models) is one leaf, as its schema default is."""
    if isinstance(node, dict) and node and path != ("models",):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    else:
        yield ".".join(path), node


def test_default_config_sets_only_what_differs_from_the_schema():
    """config/config.yaml overrides the schema; a value equal to the schema's default belongs in the schema only."""
    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    same = [key for key, value in _leaves(cfg) if key != "name" and value == schema_default(key)]
    assert not same, f"config/config.yaml repeats schema defaults: {same}"


def test_defaults_are_filled():
    cfg = validate_config({"name": "x"}, SCHEMA)
    assert cfg["sampling"]["top_p"] == 0.9
    assert cfg["train_rl"]["epsilon_high"] == 0.28
    assert [p["name"] for p in cfg["pairs"]] == ["rl", "sft"]


@pytest.mark.parametrize("patch, message", [
    ({"name": "x", "sampling": {"top_p": 1.5}}, "sampling.top_p"),
    ({"name": "x", "train_base": {"steps": 0}}, "train_base.steps"),
    ({"name": "x", "task": {"min_steps": 4, "max_steps": 2}}, "task.max_steps"),
    ({"name": "x", "modle": {}}, "'modle' is not allowed"),
    ({}, "'name' is required"),
])
def test_errors_name_the_key(patch, message):
    with pytest.raises(UserError, match=message):
        validate_config(copy.deepcopy(patch), SCHEMA)


def _resolved(patch=None):
    return resolve_config(validate_config({"name": "x", **copy.deepcopy(patch or {})}, SCHEMA))


def test_resolve_fills_every_null_from_the_key_it_follows():
    cfg = _resolved({"sampling": {"top_p": 0.7, "temperature": 0.5, "n_samples": 3, "batch_size": 5}})
    assert (cfg["dump"]["top_p"], cfg["dump"]["temperature"]) == (0.7, 0.5)
    assert (cfg["crosssample"]["n_samples"], cfg["crosssample"]["batch_size"]) == (3, 5)
    assert cfg["crosssample"]["pairs"] == [cfg["pairs"][0]["name"]]
    assert cfg["stats"]["primary_pairs"] == [p["name"] for p in cfg["pairs"]]
    assert cfg["evolution"]["enabled"] is True  # the schema's rl is trained by the pipeline
    assert "rl_step25" in cfg["models"] and "rl_step150" in cfg["evaluation"]["models"]


def test_resolve_keeps_explicit_values_and_is_idempotent():
    patch = {"dump": {"top_p": 0.5, "temperature": 2.0}, "crosssample": {"n_samples": 1, "batch_size": 2,
             "pairs": ["sft"]}, "stats": {"primary_pairs": ["rl", "sft"]}}
    cfg = _resolved(patch)
    for section, values in patch.items():
        assert {k: cfg[section][k] for k in values} == values
    assert resolve_config(copy.deepcopy(cfg)) == cfg


def _none_leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _none_leaves(v, (*path, k))
    elif node is None:
        yield ".".join(path)


def test_resolved_config_has_no_null_left_but_the_ones_that_mean_none():
    """A new "null = follow another key" in the schema needs its fallback in resolve_config."""
    none_means_none = ["crosssample.limit", "jobs.gpu_model", "sampling.vllm.max_model_len", "scorecard.simplerl"] + [
        f"train_dataset.{k}" for k in ("id_field", "limit", "prompt.system", "revision", "solution_field", "subset")]
    assert sorted(_none_leaves(_resolved())) == sorted(none_means_none)


@pytest.mark.parametrize("patch, message", [
    ({"stats": {"primary_pairs": ["nope"]}}, "stats.primary_pairs': unknown pair 'nope'"),
    ({"crosssample": {"pairs": ["nope"]}}, "crosssample.pairs': unknown pair 'nope'"),
    ({"models": {"base": {}, "rl": {}, "sft": {}, "extra": {}}}, "models.extra': needs a path"),
    ({"pairs": [{"name": "a", "base": "base", "tuned": "rl"}, {"name": "a", "base": "base", "tuned": "sft"}]},
     "pair names must be unique"),
    ({"evaluation": {"models": ["base", "nope"]}}, "evaluation.models': unknown model 'nope'"),
    ({"evaluation": {"models": ["base"]}}, "cross-sampling pair 'rl' needs the accuracy of rl"),
    ({"crosssample": {"eps": [0.1, 0.10]}}, "crosssample.eps': thresholds must be distinct"),
    ({"pairs": []}, "pairs"),
    ({"sampling": {"backend": "tgi"}}, "sampling.backend': 'tgi' is not one of ['hf', 'vllm']"),
    ({"sampling": {"vllm": {"tensor_parallel_size": 0}}}, "sampling.vllm.tensor_parallel_size': 0 is less than"),
    ({"model": {"dtype": "float32"}}, "model.dtype' is not allowed"),
    ({"models": {"base": {"path": "a", "gguf": "b.gguf"}, "rl": {}, "sft": {}}},
     "models.base': give one of path, hub, gguf, variant, checkpoint, not path and gguf"),
    ({"models": {"base": {"path": "a", "revision": "main"}, "rl": {}, "sft": {}}},
     "models.base.revision': only a hub model has a revision"),
    ({"models": {"rl": {}}, "pairs": [{"name": "p", "base": "rl", "tuned": "rl"}]},
     "models.rl': is trained from models.base, which is not configured"),
    ({"device": "tpu"}, "config key 'device'"),
    ({"datasets": ["evl"]}, "datasets.0': 'evl' is neither 'eval' nor 'train' nor a dataset mapping"),
    ({"datasets": [{"name": "x", "path": "a.jsonl", "hub": "o/d"}]},
     "datasets.0': give exactly one of hub, path, generator (got hub, path)"),
    ({"datasets": [{"name": "x", "path": "a.jsonl", "grader": "mathy"}]}, "datasets.0.grader'"),
    ({"datasets": [{"name": "x", "path": "a.jsonl", "promt": {}}]}, "datasets.0.promt' is not allowed"),
    ({"datasets": [{"name": "x", "generator": "arithmetic", "split": "eval"}]},
     "datasets.0.n': generator 'arithmetic' needs a problem count"),
    ({"datasets": [{"name": "x", "generator": "arithmetic", "n": 4}]}, "datasets.0.split': a generator's split"),
    ({"datasets": ["eval", {"name": "eval", "path": "a.jsonl"}]}, "datasets': names must be unique"),
    ({"datasets": [{"name": "x", "path": "a.jsonl", "prompt": {"chat": True}}]},
     "datasets.0.prompt.chat': the organism base model has no chat template"),
    ({"train_dataset": {"name": "t", "path": "a.jsonl"}}, "train_dataset': the organism base model is trained"),
    ({"models": {"base": {"path": "m"}, "rl": {}, "sft": {}}, "datasets": [{"name": "train", "path": "a.jsonl"}]},
     "train_dataset.name': 'train' names a different entry in datasets"),
    ({"train_variants": [{"name": "w", "weighting": "sigmoid"}], "train_rl": {"steps_per_generation": 1}},
     "train_variants.0.weighting': 'sigmoid' weights tokens by their KL to the sampling policy, which is 0"),
    ({"train_variants": [{"name": "w", "seeds": []}]}, "train_variants.0.seeds'"),
    ({"train_variants": [{"name": "w", "top_entropy_quantile": 0}]}, "train_variants.0.top_entropy_quantile'"),
    ({"train_variants": [{"name": "w", "s": 3}]}, "train_variants.0.s'"),
    ({"train_variants": [{"name": "w", "weighting": "cubic"}]}, "train_variants.0.weighting'"),
    ({"train_variants": [{"name": "w_1"}]}, "train_variants.0.name'"),
    ({"train_variants": [{"name": "w"}, {"name": "w"}]}, "train_variants': names must be unique"),
    ({"train_variants": [{"name": "a", "steps": 10}, {"name": "b"}]},
     "train_variants.1.steps': 150 differs from the baseline's ('a', 10)"),
    ({"models": {"base": {}, "rl": {"path": "p"}}, "evaluation": {"models": ["base"]}, "pairs": [
        {"name": "rl", "base": "base", "tuned": "rl"}], "evolution": {"enabled": True}},
     "evolution.enabled': the training evolution needs rl trained by the pipeline"),
    ({"dump": {"responses": "base"}, "evolution": {"enabled": True}},
     "evolution.enabled': the training evolution needs dump.responses: tuned"),
    ({"models": {"base": {}, "rl": {}, "sft": {}, "r7": {"checkpoint": 7}}},
     "models.r7.checkpoint': train_rl saves steps [25, 50, 75, 100, 125, 150], not 7"),
    ({"finetuning_data": {"pairs": ["nope"]}}, "finetuning_data.pairs': unknown pair 'nope'"),
    ({"topp_sampling": {"pairs": ["nope"]}}, "topp_sampling.pairs': unknown pair 'nope'"),
    ({"topp_sampling": {"pairs": ["rl"], "top_p": [0.9]}}, "topp_sampling.top_p': 0.9 is sampling.top_p"),
    ({"datasets": [{"name": "finetuning", "generator": "organism", "split": "eval"}]},
     "datasets': the name 'finetuning' is reserved"),
    ({"models": {"base": {}, "rl": {}, "sft": {}, "x": {"variant": "nope", "seed": 0}}},
     "models.x.variant': needs a seed and one of the train_variants"),
])
def test_cross_reference_errors_name_the_key(patch, message):
    with pytest.raises(UserError, match=re.escape(message)):
        _resolved(patch)


def test_evaluation_subset_is_fine_without_cross_sampling():
    cfg = _resolved({"evaluation": {"models": ["base"]}, "crosssample": {"enabled": False},
                     "evolution": {"enabled": False}})
    assert cfg["evaluation"]["models"] == ["base"]


def test_dump_cli_defaults_are_the_schema_defaults():
    parser = argparse.ArgumentParser()
    dump_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["dump", "--base", "b", "--tuned", "t", "--responses", "r", "--out", "o"])
    cfg = _resolved()
    assert args.top_p == cfg["dump"]["top_p"] == schema_default("sampling.top_p")
    assert args.temperature == cfg["dump"]["temperature"]
    for key in ("batch_size", "extra_top_p", "chunk", "dtype", "answer_marker"):
        assert getattr(args, key) == cfg["dump"][key] == schema_default(f"dump.{key}"), key


def test_key_order_of_the_yaml_does_not_matter():
    """Params are compared as text to decide reruns: a reordered config must give the same dicts, in the same order."""
    cfg = yaml.safe_load((ROOT / "config" / "ci.yaml").read_text())
    cfg["pairs"] = [{"name": "rl", "base": "base", "tuned": "rl"}]
    cfg["models"] = {"base": {}, "rl": {"path": "elsewhere"}}
    cfg["evaluation"] = {**cfg.get("evaluation", {}), "models": ["base", "rl"]}
    cfg["finetuning_data"] = {}

    def reverse(node):
        if isinstance(node, dict):
            return {k: reverse(node[k]) for k in reversed(list(node))}
        return [reverse(v) for v in node] if isinstance(node, list) else node

    a = resolve_config(validate_config(copy.deepcopy(cfg), SCHEMA))
    b = resolve_config(validate_config(reverse(cfg), SCHEMA))
    assert repr(a) == repr(b)


def test_library_defaults_are_the_schema_defaults():
    """The library's dataclasses keep defaults for notebook use; they must be the schema's (its one home)."""
    from tokenshift.analysis.divergence import DivergenceConfig
    from tokenshift.analysis.dump import DumpOptions
    from tokenshift.analysis.statistics import StatsParams
    from tokenshift.pipeline.config import schema_default as d

    div, opts, stats = DivergenceConfig(), DumpOptions(), StatsParams()
    assert (div.temperature, div.top_p) == (d("sampling.temperature"), d("sampling.top_p"))
    assert (list(div.extra_top_p), div.chunk) == (d("dump.extra_top_p"), d("dump.chunk"))
    assert (opts.batch_size, opts.dtype, opts.answer_marker) == (
        d("dump.batch_size"), d("dump.dtype"), d("dump.answer_marker"))
    assert stats.top_p == d("sampling.top_p")
    for key in ("near_zero", "high", "position_bins", "window", "top_tokens", "hist_tokens", "hist_bins"):
        assert getattr(stats, key) == d(f"stats.{key}"), key
    assert list(stats.tail_thresholds) == d("stats.tail_thresholds")
    from tokenshift.crosssample import CrossSpec
    from tokenshift.generation.sampler import SamplingParams

    spec = CrossSpec(0.1, (0,), SamplingParams(0, 1.0, 0.9, 8))
    for key in ("engine", "rule", "noise", "chunk", "chunk_size", "max_chunk"):
        assert getattr(spec, key) == d(f"crosssample.{key}"), key
    assert (spec.n_samples, spec.batch_size, spec.dtype) == (
        d("sampling.n_samples"), d("sampling.batch_size"), d("sampling.dtype"))


def test_budgets_in_any_order_are_sorted_and_need_zero():
    """The schema requires distinct budgets including 0 (without importing torch); resolving sorts them."""
    cfg = resolve_config(validate_config({"name": "x", "crosssample": {"budgets": [4, 0, 1]}}, SCHEMA))
    assert cfg["crosssample"]["budgets"] == [0, 1, 4]
    for budgets, message in (([0, 2, 2], "must not repeat"), ([1, 2], "must include 0")):
        with pytest.raises(UserError, match=f"crosssample.budgets' {message}"):
            validate_config({"name": "x", "crosssample": {"budgets": budgets}}, SCHEMA)


def test_dataset_shorthands_equal_their_mappings():
    """'eval' and 'train' are the organism's splits, spelt out with the task's sizes."""
    short = _resolved({"datasets": ["eval"], "train_dataset": "train"})
    long = _resolved({"datasets": [{"name": "eval", "generator": "organism", "split": "eval"}],
                      "train_dataset": {"name": "train", "generator": "organism", "split": "train"}})
    assert short["datasets"] == long["datasets"] and short["train_dataset"] == long["train_dataset"]
    task = short["task"]
    assert short["datasets"][0]["n"] == task["n_eval"] and short["train_dataset"]["n"] == task["n_train"]
    assert short["datasets"][0]["options"]["min_steps"] == task["min_steps"]
