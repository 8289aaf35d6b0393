"""Every registry of named variants equals the schema enums and CLI choices that name its entries.

The test finds the registries itself (every ``Registry`` at module level anywhere in the package)
and requires each to be in :data:`NAMED`, the one explicit map from a registry to the places a
user names its entries: schema keys whose ``enum`` must equal its names, CLI options whose
``choices`` must, or, where no config key names it, the reason why. A new registry without an
entry here fails; so does a new schema enum or CLI choice list that is neither a registry's nor
listed in :data:`NOT_REGISTRIES`. docs/extending.md says what to touch when adding an entry.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tokenshift
import yaml
from tokenshift.cli import build_parser
from tokenshift.pipeline.config import SCHEMA_PATH
from tokenshift.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())


@dataclass(frozen=True)
class Named:
    """Where a user names a registry's entries.

    ``schema``: config key paths of enums (``a.b`` for nested keys, ``a[].b`` inside an array's items,
    ``$defs.x.b`` inside a ``$defs`` entry); ``cli``: (subcommand, option dest) pairs with choices;
    ``unnamed``: why no schema enum names it (required exactly when ``schema`` is empty).
    """

    schema: tuple[str, ...] = ()
    cli: tuple[tuple[str, str], ...] = ()
    unnamed: str = ""


# registry, as "module:ATTRIBUTE" of the module that creates it -> where its names appear.
NAMED: dict[str, Named] = {
    "tokenshift.crosssample.variants:ENGINES": Named(("crosssample.engine",), (("crosssample", "engine"),)),
    "tokenshift.crosssample.variants:CHUNKS": Named(("crosssample.chunk",), (("crosssample", "chunk"),)),
    "tokenshift.crosssample.variants:RULES": Named(("crosssample.rule",), (("crosssample", "rule"),)),
    "tokenshift.crosssample.variants:NOISE": Named(("crosssample.noise",), (("crosssample", "noise"),)),
    "tokenshift.crosssample.variants:MODES": Named(unnamed=(
        "targeted runs always happen and crosssample.random_baseline (a boolean) adds the random ones; "
        "the rules list the modes (CS_MODES) and the CLI's --random flag picks one")),
    "tokenshift.training.weighting:WEIGHTINGS": Named(("train_variants[].weighting",)),
    "tokenshift.evaluation.graders:GRADERS": Named(("$defs.dataset.grader",)),
    "tokenshift.data.generators:GENERATORS": Named(("$defs.dataset.generator",)),
    "tokenshift.analysis.scorecard:CLAIMS": Named(unnamed=(
        "the scorecard judges every registered claim; the config names the pairs that play the claims' roles "
        "(scorecard.dapo, simplerl, sft), never a claim")),
}

# Schema enums and CLI choices that name no registry: key path (or (subcommand, dest)) -> what they name.
NOT_REGISTRIES: dict[Any, str] = {
    "device": "torch devices (tokenshift.models.device.DEVICES)",
    "sampling.dtype": "torch dtypes (tokenshift.crosssample.spec.DTYPES)",
    "dump.dtype": "torch dtypes (tokenshift.crosssample.spec.DTYPES)",
    "sampling.backend": "generation backends (hf, vllm), chosen in the generate rule",
    "train_variants[].loss_type": "TRL's loss types",
    "dump.responses": "which model's generations a dump scores",
    "crosssample.directions[]": "forward and reverse cross-sampling",
    "datasets[]": "the organism's split shorthands (eval, train)",
    "train_dataset": "the organism's split shorthand (train)",
    ("crosssample", "device"): "torch devices (tokenshift.models.device.DEVICES)",
    ("dump", "device"): "torch devices (tokenshift.models.device.DEVICES)",
    "crosssample.tail": "who decodes a row after its budget is spent (tokenshift.crosssample.spec.TAILS)",
    ("crosssample", "tail"): "who decodes a row after its budget is spent (tokenshift.crosssample.spec.TAILS)",
}
CONSTANTS = {  # non-registry enums that must still equal a tuple of the code
    "device": "tokenshift.models.device:DEVICES",
    "sampling.dtype": "tokenshift.crosssample.spec:DTYPES",
    "dump.dtype": "tokenshift.crosssample.spec:DTYPES",
    ("crosssample", "device"): "tokenshift.models.device:DEVICES",
    ("dump", "device"): "tokenshift.models.device:DEVICES",
    "crosssample.tail": "tokenshift.crosssample.spec:TAILS",
    ("crosssample", "tail"): "tokenshift.crosssample.spec:TAILS",
}


def resolve(ref: str) -> Any:
    module, attr = ref.split(":")
    return getattr(importlib.import_module(module), attr)


def found_registries() -> dict[int, tuple[Registry, list[str]]]:
    """Every Registry bound at module level in any module of the package: id -> (registry, where bound)."""
    for info in pkgutil.walk_packages(tokenshift.__path__, f"{tokenshift.__name__}."):
        if not info.name.endswith(".__main__"):  # running the CLI is no import
            importlib.import_module(info.name)
    found: dict[int, tuple[Registry, list[str]]] = {}
    for name, module in sorted(sys.modules.items()):
        if name == "tokenshift" or name.startswith("tokenshift."):
            for attr, value in vars(module).items():
                if isinstance(value, Registry):
                    found.setdefault(id(value), (value, []))[1].append(f"{name}:{attr}")
    return found


def schema_node(path: str, schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    """The node of a key path (see :class:`Named`) in ``schema``."""
    node: dict[str, Any] = schema
    parts = path.split(".")
    if parts[0] == "$defs":
        node, parts = schema["$defs"][parts[1]], parts[2:]
    for part in parts:
        node = node["properties"][part.removesuffix("[]")]
        if part.endswith("[]"):
            node = node["items"]
    return node


def schema_enums(node: dict[str, Any], path: str) -> dict[str, list]:
    """Key path -> enum of every enum in the schema below ``node`` (anyOf branches included)."""
    out = {}
    if "enum" in node:
        out[path] = node["enum"]
    for branch in node.get("anyOf", []):
        out |= schema_enums(branch, path)
    for key, sub in node.get("properties", {}).items():
        out |= schema_enums(sub, f"{path}.{key}" if path else key)
    if isinstance(node.get("items"), dict):
        out |= schema_enums(node["items"], f"{path}[]")
    return out


ALL_ENUMS = schema_enums(SCHEMA, "") | {k: v for name, d in SCHEMA["$defs"].items()
                                        for k, v in schema_enums(d, f"$defs.{name}").items()}


def cli_choices() -> dict[tuple[str, str], list]:
    """(subcommand, option dest) -> choices of every CLI option that has them."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {(command, a.dest): list(a.choices) for command, p in sub.choices.items() for a in p._actions
            if a.choices is not None}


def test_every_registry_in_the_package_is_mapped():
    found = found_registries()
    mapped = {id(resolve(ref)): ref for ref in NAMED}
    unmapped = [where for key, (_, where) in found.items() if key not in mapped]
    assert not unmapped, f"registries missing from NAMED (add their schema enum, or say why there is none): {unmapped}"
    assert set(mapped) == set(found), "NAMED lists a registry that no module binds"
    for ref in NAMED:  # the key is the module that creates the registry, not one that imports it
        assert ref in found[id(resolve(ref))][1]


@pytest.mark.parametrize("ref", sorted(NAMED))
def test_schema_enums_equal_the_registry(ref):
    registry, named = resolve(ref), NAMED[ref]
    assert bool(named.schema) != bool(named.unnamed), f"{ref}: give schema keys or a reason, not both or neither"
    names = registry.names()
    assert names, f"{ref} is empty"
    for path in named.schema:
        node = schema_node(path)
        assert sorted(node["enum"]) == sorted(names), f"schema {path} vs {ref}"
        assert len(set(node["enum"])) == len(node["enum"]), f"schema {path} repeats a name"
        if "default" in node:
            assert node["default"] in names, f"schema {path}: default {node['default']!r} is not registered"


@pytest.mark.parametrize("ref", sorted(NAMED))
def test_cli_choices_equal_the_registry(ref):
    choices = cli_choices()
    for option in NAMED[ref].cli:
        assert option in choices, f"CLI option {option} has no choices"
        assert sorted(choices[option]) == sorted(resolve(ref).names()), f"CLI {option} vs {ref}"


def test_every_schema_enum_is_a_registry_or_listed_as_none():
    mapped = {path for named in NAMED.values() for path in named.schema}
    listed = {k for k in NOT_REGISTRIES if isinstance(k, str)}
    unknown = set(ALL_ENUMS) - mapped - listed
    assert not unknown, f"schema enums neither mapped to a registry (NAMED) nor listed in NOT_REGISTRIES: {unknown}"
    assert not (mapped | listed) - set(ALL_ENUMS), "NAMED or NOT_REGISTRIES names a key without an enum"
    assert not mapped & listed


def test_every_cli_choice_list_is_a_registry_or_listed_as_none():
    mapped = {option for named in NAMED.values() for option in named.cli}
    listed = {k for k in NOT_REGISTRIES if isinstance(k, tuple)}
    assert set(cli_choices()) == mapped | listed and not mapped & listed


@pytest.mark.parametrize("key", sorted(CONSTANTS, key=str))
def test_non_registry_enums_equal_their_constants(key):
    got = ALL_ENUMS[key] if isinstance(key, str) else cli_choices()[key]
    assert list(got) == list(resolve(CONSTANTS[key]))


def test_the_pipeline_runs_every_cross_sampling_mode():
    """MODES has no schema enum: the rules' CS_MODES (random only with random_baseline) must name them all."""
    lines = [li for f in sorted((ROOT / "workflow" / "rules").glob("*.smk")) for li in f.read_text().splitlines()
             if li.startswith("CS_MODES =")]
    assert len(lines) == 1, lines
    line = lines[0]
    listed = re.findall(r'(?<!\w)\["(\w+)"\]', line)  # list literals, not CS["random_baseline"]
    assert sorted(listed) == sorted(resolve("tokenshift.crosssample.variants:MODES").names())


def test_claim_ids_are_numbered_and_the_caption_counts_them():
    """CLAIMS has no schema enum: the scorecard orders claims by the number after C, and its caption
    names the range."""
    names = resolve("tokenshift.analysis.scorecard:CLAIMS").names()
    assert all(re.fullmatch(r"C[1-9]\d*", n) for n in names), names
    numbers = sorted(int(n[1:]) for n in names)
    assert numbers == list(range(1, len(names) + 1))
    caption = (ROOT / "workflow" / "report" / "scorecard.rst").read_text()
    assert f"C1-C{len(names)}" in caption
