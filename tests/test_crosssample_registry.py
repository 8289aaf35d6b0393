"""Cross-sampling variants: the schema's enums, the CLI's choices and the registries name the same things."""

from __future__ import annotations

import argparse

import pytest
import yaml
from tokenshift.cli import build_parser
from tokenshift.crosssample import CHUNKS, ENGINES, NOISE, RULES, CrossSpec
from tokenshift.errors import UserError
from tokenshift.generation.sampler import SamplingParams
from tokenshift.pipeline.config import SCHEMA_PATH, schema_default

SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
CS = SCHEMA["properties"]["crosssample"]["properties"]
KINDS = {"engine": ENGINES, "chunk": CHUNKS, "noise": NOISE, "rule": RULES}


def cli_actions() -> dict[str, argparse.Action]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in sub.choices["crosssample"]._actions}


@pytest.mark.parametrize("key", sorted(KINDS))
def test_schema_enum_and_cli_choices_equal_the_registry(key):
    registry = KINDS[key]
    assert sorted(CS[key]["enum"]) == sorted(registry.names())
    action = cli_actions()[key]
    assert sorted(action.choices) == sorted(registry.names())
    assert action.default == CS[key]["default"] == schema_default(f"crosssample.{key}")


def test_cli_sampling_defaults_are_the_schema_defaults():
    actions = cli_actions()
    for dest, key in [("top_p", "sampling.top_p"), ("temperature", "sampling.temperature"),
                      ("max_new_tokens", "sampling.max_new_tokens"), ("batch_size", "sampling.batch_size"),
                      ("samples", "sampling.n_samples"), ("dtype", "sampling.dtype"), ("seed", "seed"),
                      ("chunk_size", "crosssample.chunk_size"), ("max_chunk", "crosssample.max_chunk")]:
        assert actions[dest].default == schema_default(key), dest


@pytest.mark.parametrize("key", sorted(KINDS))
def test_every_registered_variant_builds_a_spec(key):
    for name in KINDS[key].names():
        CrossSpec(0.1, (0, 1), SamplingParams(0, 1.0, 0.9, 8), **{key: name})


def test_unknown_name_is_one_line_listing_known_names():
    with pytest.raises(UserError) as exc:
        RULES.get("tv")
    assert str(exc.value) == "unknown switching rule 'tv'; known: js, kl"
