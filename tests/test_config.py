"""Config schema: defaults filled, every default config valid, errors name the key."""

import copy

import pytest
import yaml
from conftest import ROOT
from tokenshift.errors import UserError
from tokenshift.pipeline.config import validate_config

SCHEMA = ROOT / "config" / "schema.yaml"


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")) + sorted((ROOT / "config").glob("*/*.yaml")))
def test_shipped_configs_are_valid(path):
    if path.name == "schema.yaml":
        pytest.skip("the schema itself")
    validate_config(yaml.safe_load(path.read_text()), SCHEMA)


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
