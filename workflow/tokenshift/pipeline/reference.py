"""The configuration reference (docs/config-reference.md), generated from workflow/tokenshift/pipeline/schema.yaml.

The schema is the one home of every key, default and description; this page is written from it
(``python -m tokenshift.pipeline.reference``), and a test checks that the checked-in page is
current.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

from tokenshift.pipeline.config import SCHEMA_PATH

HEADER = """# Configuration reference

Generated from the schema, `workflow/tokenshift/pipeline/schema.yaml`, by
`python -m tokenshift.pipeline.reference > docs/config-reference.md` (a test checks that this page is current).
Every key is optional except `name`; a key left out takes the default shown. `config/config.yaml` (the
default run) sets only what differs from these.

| key | type | default | meaning |
|---|---|---|---|
"""


def _type(node: dict[str, Any]) -> str:
    if "enum" in node:
        return " or ".join("null" if v is None else str(v) for v in node["enum"])
    t = node.get("type")
    if isinstance(t, list):
        return " or ".join(t)
    if t == "array" and isinstance(node.get("items"), dict) and "type" in node["items"]:
        return f"array of {node['items']['type']}"
    return t or ("one of several forms" if "anyOf" in node else "")


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;")


def rows(node: dict[str, Any], prefix: str = "") -> list[str]:
    """One table row per key, depth first in schema order; objects list their own keys after them."""
    out = []
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        default = json.dumps(sub["default"]) if "default" in sub else ""
        out.append(f"| `{path}` | {_cell(_type(sub))} | {_cell(f'`{default}`' if default else '')} | "
                   f"{_cell(sub.get('description', ''))} |")
        if sub.get("type") == "object":
            out += rows(sub, f"{path}.")
        if sub.get("type") == "array" and isinstance(sub.get("items"), dict) and sub["items"].get("type") == "object":
            out += rows(sub["items"], f"{path}[].")
    return out


def config_reference(schema_path: str | Path = SCHEMA_PATH) -> str:
    schema = yaml.safe_load(Path(schema_path).read_text())
    return HEADER + "\n".join(rows(schema)) + "\n"


if __name__ == "__main__":
    sys.stdout.write(config_reference())
