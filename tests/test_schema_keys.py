"""Every key of the config schema (workflow/tokenshift/pipeline/schema.yaml) is read somewhere: a key nothing
reads is a setting that silently does nothing."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from conftest import ROOT
from tokenshift.pipeline.config import SCHEMA_PATH

SCHEMA = SCHEMA_PATH

# Where config values are consumed: the rules, their scripts and the library. Not the config module
# itself: validating or resolving a key is not using it.
CODE = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk")),
        *sorted((ROOT / "workflow" / "scripts").glob("*.py")),
        *sorted(p for p in (ROOT / "workflow" / "tokenshift").rglob("*.py") if p.name != "config.py"
                or p.parent.name != "pipeline")]

# Keys consumed structurally, without their name in the code (key path -> how it is consumed).
# Otherwise every key is read by name (a whole section passed on counts as long as its keys
# are read by name where it arrives, e.g. stats.* as StatsParams fields).
STRUCTURAL: dict[str, str] = {
    f"task.{k}": "copied into the organism generator's options by resolve_config; its keyword parameters"
    for k in ("n_train", "n_eval", "min_steps", "max_steps")
}


def leaf_keys(schema: dict, path: tuple[str, ...] = (), defs: dict | None = None) -> list[tuple[str, ...]]:
    """Key paths of the schema's leaves; ``*`` stands for a free-form name (models.*.path);
    the items of an array of objects (pairs) add their keys under the array's, and so does
    the mapping branch of a shorthand-or-mapping (dataset entries)."""
    defs = schema.get("$defs", {}) if defs is None else defs
    if "$ref" in schema:
        return leaf_keys(defs[schema["$ref"].rsplit("/", 1)[-1]], path, defs)
    if "anyOf" in schema:
        return leaf_keys(schema["anyOf"][-1], path, defs)
    if isinstance(schema.get("items"), dict) and "anyOf" in schema["items"]:
        return leaf_keys(schema["items"], path, defs)
    if "properties" in schema:
        return [leaf for key, sub in schema["properties"].items() for leaf in leaf_keys(sub, (*path, key), defs)]
    if isinstance(schema.get("additionalProperties"), dict):
        return leaf_keys(schema["additionalProperties"], (*path, "*"), defs)
    if isinstance(schema.get("items"), dict) and "properties" in schema["items"]:
        return leaf_keys(schema["items"], path, defs)
    return [path]


def _code_text(files: list[Path]) -> str:
    """The files' text without comment lines: a key that is only mentioned does not count."""
    return "\n".join(line for f in files for line in f.read_text().splitlines() if not line.lstrip().startswith("#"))


def is_read(name: str, code: str) -> bool:
    """``name`` appears as a config read does: a quoted key (cfg["name"]), an attribute (p.name) or a keyword
    argument (name=...)."""
    n = re.escape(name)
    return re.search(rf"""(["']){n}\1|\.{n}\b|\b{n}=(?!=)""", code) is not None


def unread_keys(schema: dict, code: str) -> list[str]:
    out = []
    for path in leaf_keys(schema):
        dotted = ".".join(path)
        if dotted not in STRUCTURAL and not all(is_read(part, code) for part in path if part != "*"):
            out.append(dotted)
    return out


def test_every_schema_key_is_read():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert unread_keys(schema, _code_text(CODE)) == []


def test_an_unread_key_is_found():
    schema = yaml.safe_load(SCHEMA.read_text())
    schema["properties"]["sampling"]["properties"]["knob_nobody_reads"] = {"type": "integer", "default": 1}
    schema["properties"]["unread_section"] = {"type": "object", "properties": {"top_p": {"type": "number"}}}
    assert unread_keys(schema, _code_text(CODE)) == ["sampling.knob_nobody_reads", "unread_section.top_p"]


def test_leaf_keys_cover_nested_shapes():
    schema = yaml.safe_load(SCHEMA.read_text())
    leaves = {".".join(p) for p in leaf_keys(schema)}
    assert {"models.*.path", "pairs.name", "pairs.tuned", "crosssample.eps", "name", "datasets.hub",
            "datasets.prompt.system", "train_dataset.answer_field", "sampling.backend",
            "sampling.vllm.kv_cache_gb"} <= leaves
    assert "model.dtype" not in leaves


def test_structural_allow_list_is_current():
    schema = yaml.safe_load(SCHEMA.read_text())
    leaves = {".".join(p) for p in leaf_keys(schema)}
    assert set(STRUCTURAL) <= leaves
