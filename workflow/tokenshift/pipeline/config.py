"""Config validation against config/schema.yaml: defaults filled, errors name the key."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tokenshift.errors import UserError

# The schema is the one home of every default; the package reads it from the repository.
SCHEMA_PATH = Path(__file__).resolve().parents[3] / "config" / "schema.yaml"


def _with_defaults(validator_class):
    """A validator that fills each property's ``default`` before validating it."""
    validate_props = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = sub["default"]
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _where(error: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        key = ".".join(filter(None, [path, extra[0] if extra else ""]))
        return f"config key '{key}' is not allowed (unknown or misspelt)"
    if error.validator == "required":
        return f"config key '{'.'.join(filter(None, [path, error.message.split(chr(39))[1]]))}' is required"
    return f"config key '{path or '<root>'}': {error.message}"


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults) and return it; raise UserError naming the key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise UserError(_where(errors[0]))
    _check_cross_references(config)
    return config


def _check_cross_references(config: dict[str, Any]) -> None:
    """Constraints a JSON schema cannot state: ranges between keys, names that must exist."""
    task = config["task"]
    if task["max_steps"] < task["min_steps"]:
        raise UserError("config key 'task.max_steps' must be >= task.min_steps")
    known = set(config["models"])
    for i, pair in enumerate(config["pairs"]):
        for role in ("base", "tuned"):
            if pair[role] not in known:
                raise UserError(f"config key 'pairs.{i}.{role}': unknown model {pair[role]!r}; known: {sorted(known)}")
    pair_names = {p["name"] for p in config["pairs"]}
    for name in config["crosssample"]["pairs"] or []:
        if name not in pair_names:
            raise UserError(f"config key 'crosssample.pairs': unknown pair {name!r}; known: {sorted(pair_names)}")
    from tokenshift.crosssample.sweep import check_budgets  # torch-heavy: only once the cheap checks pass

    try:
        check_budgets(config["crosssample"]["budgets"])
    except UserError as exc:
        raise UserError(f"config key 'crosssample.budgets': {exc}") from None


@cache
def _schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def schema_default(key: str) -> Any:
    """The schema's default of a dotted config key (``"dump.batch_size"``): what CLI defaults use."""
    node: dict[str, Any] = _schema()
    for part in key.split("."):
        node = node["properties"][part]
    return node["default"]
