"""One dataset entry of the run config -> a checked problem table (problem_id, problem, answer[, solution]).

An entry names exactly one source: ``hub`` (a Hugging Face dataset, read through the local
cache when offline), ``path`` (a local Parquet or JSONL file) or ``generator`` (a registered
generator, :mod:`tokenshift.data.generators`). Whatever is wrong with it -- a missing file or
column, an unparsable line, empty or duplicated values, an uncached hub dataset offline -- is
one line naming the entry, its source and the key to fix, before any model is loaded.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from pathlib import Path
from typing import Any

import polars as pl

from tokenshift.data.generators import GENERATORS
from tokenshift.errors import UserError

SOURCES = ("hub", "path", "generator")
SUFFIXES = (".parquet", ".jsonl")
SCHEMA = {"problem_id": pl.Int64, "problem": pl.String, "answer": pl.String}
_INT = re.compile(r"-?\d+")


def load_problems(entry: dict, seed: int, root: Path | None = None) -> pl.DataFrame:
    """The entry's problems as (problem_id Int64, problem String, answer String[, solution String]), in order.

    ``solution`` (reference solutions, what SFT trains on) comes from ``solution_field``, or
    from the generator, which always writes one. ``root`` resolves a relative ``path`` (the
    project directory, when the caller's cwd is not it); ``seed`` only matters to generators.
    ``limit`` keeps the first rows after every row has been checked, so a bad row past the
    limit fails now rather than when the limit is raised.
    """
    given = [k for k in SOURCES if entry.get(k) is not None]
    name = entry.get("name")
    if len(given) != 1:
        raise UserError(f"dataset {name!r}: give exactly one of {', '.join(SOURCES)} "
                        f"(got {', '.join(given) or 'none'})")
    source = given[0]
    where = f"dataset {name!r} ({source} {entry[source]})"
    if source == "hub":
        columns = _read_hub(entry, where)
    elif source == "path":
        columns = _read_file(Path(entry["path"]) if root is None else root / entry["path"], where)
    else:
        columns = _rows_to_columns(_generate(entry, seed, where))
    fields = {"id_field": entry.get("id_field"), "problem_field": entry.get("problem_field") or "problem",
              "answer_field": entry.get("answer_field") or "answer",
              # generators write their own reference solutions
              "solution_field": entry.get("solution_field") or ("solution" if source == "generator" else None)}
    df = _to_problems(columns, fields, where)
    return df if entry.get("limit") is None else df.head(entry["limit"])


def _read_hub(entry: dict, where: str) -> dict[str, list]:
    """Columns of a hub dataset split; the local cache serves it when the hub is unreachable."""
    import datasets
    from datasets.exceptions import DatasetNotFoundError

    repo, subset, revision = entry["hub"], entry.get("subset"), entry.get("revision")
    split = entry.get("split") or "test"
    try:
        ds = datasets.load_dataset(repo, subset, split=split, revision=revision)
    except ConnectionError:
        # datasets raises the builtin ConnectionError both under HF_HUB_OFFLINE=1 and when the hub
        # does not answer, once it has found no cached copy of the dataset.
        call = ", ".join([repr(repo)] + ([repr(subset)] if subset else []) + [f"split={split!r}"]
                         + ([f"revision={revision!r}"] if revision else []))
        raise UserError(
            f"{where}: not in the local Hugging Face cache and the hub cannot be reached (or HF_HUB_OFFLINE=1); "
            f"on a machine with internet run `python -c \"import datasets; datasets.load_dataset({call})\"`, "
            f"then copy its Hugging Face cache (~/.cache/huggingface, or $HF_HOME) here or point HF_HOME at it"
        ) from None
    except DatasetNotFoundError as exc:
        raise UserError(f"{where}: {_first_line(exc)} (check hub; a gated dataset needs `hf auth login`)") from None
    except (FileNotFoundError, ValueError) as exc:  # bad id, unknown subset or split
        raise UserError(f"{where}: {_first_line(exc)} (check hub, subset, split)") from None
    return ds.to_dict()


def _read_file(path: Path, where: str) -> dict[str, list]:
    """Columns of a Parquet or JSONL file."""
    if path.suffix not in SUFFIXES:
        raise UserError(f"{where}: file {path} is not {' or '.join(SUFFIXES)} (key path)")
    if not path.is_file():
        raise UserError(f"{where}: file {path} not found (key path)")
    if path.suffix == ".parquet":
        try:
            return pl.read_parquet(path).to_dict(as_series=False)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise UserError(f"{where}: file {path} is not valid Parquet: {_first_line(exc)}") from None
    rows = []
    try:
        # split on newlines only: str.splitlines would also cut at U+2028 inside a JSON string
        lines = path.read_text(encoding="utf-8").split("\n")
    except UnicodeDecodeError as exc:
        raise UserError(f"{where}: file {path} is not UTF-8 text: {exc}") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{where}: file {path} line {lineno} is not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise UserError(f"{where}: file {path} line {lineno} is a JSON {type(row).__name__}, not an object")
        rows.append(row)
    return _rows_to_columns(rows)


def _generate(entry: dict, seed: int, where: str) -> list[dict]:
    """Rows of a registered generator; its options are checked against its signature first."""
    split, n, options = entry.get("split"), entry.get("n"), entry.get("options") or {}
    try:
        fn = GENERATORS.get(entry["generator"])
        params = inspect.signature(fn).parameters
        unknown = sorted(set(options) - set(params) - {"split", "n", "seed"})
        if unknown:
            known = [p for p in params if p not in ("split", "n", "seed")]
            raise UserError(f"unknown option {unknown[0]!r} (key options); known: {', '.join(known)}")
        if not isinstance(n, int) or n < 1:
            raise UserError(f"key n must be a positive number of problems, not {n!r}")
        return fn(split, n, seed, **options)
    except UserError as exc:
        raise UserError(f"{where}: {exc}") from None


def _rows_to_columns(rows: list[dict]) -> dict[str, list]:
    """Row dicts -> columns, keys in order of first appearance, absent keys as None."""
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return {k: [row.get(k) for row in rows] for k in keys}


def _to_problems(columns: dict[str, list], fields: dict[str, str | None], where: str) -> pl.DataFrame:
    """Map and check the entry's fields (key -> column, None = unused); each failure names the key and the id."""
    height = len(next(iter(columns.values()), []))
    if height == 0:
        raise UserError(f"{where}: the dataset has no rows")
    for key, col in fields.items():
        if col is not None and col not in columns:
            raise UserError(f"{where}: {key} {col!r} is not a column; columns: {', '.join(columns)}")
    ids = list(range(height)) if fields["id_field"] is None else \
        [_as_id(v, where, fields["id_field"], row) for row, v in enumerate(columns[fields["id_field"]])]
    seen: set[int] = set()
    for pid in ids:
        if pid in seen:
            raise UserError(f"{where}: id_field {fields['id_field']!r} repeats id {pid}")
        seen.add(pid)
    out = {"problem_id": ids, "problem": _texts(columns, ids, "problem_field", fields["problem_field"], where),
           "answer": [_answer_text(v, where, fields["answer_field"], pid)
                      for pid, v in zip(ids, columns[fields["answer_field"]])]}
    if fields["solution_field"] is not None:
        out["solution"] = _texts(columns, ids, "solution_field", fields["solution_field"], where)
    return pl.DataFrame(out, schema={**SCHEMA, "solution": pl.String} if "solution" in out else SCHEMA)


def _texts(columns: dict[str, list], ids: list[int], key: str, field: str, where: str) -> list[str]:
    """A column of non-empty text (problems, solutions); the first bad value is named by its id."""
    values = columns[field]
    for pid, text in zip(ids, values):
        if not (isinstance(text, str) and text.strip()):
            what = "empty" if text is None or isinstance(text, str) else f"not text but {type(text).__name__}"
            raise UserError(f"{where}: {key} {field!r} of id {pid} is {what}")
    return values


def _as_id(value: Any, where: str, field: str, row: int) -> int:
    """An integer problem id (ints, integral floats, digit strings), since every table keys rows by Int64."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value)
    raise UserError(f"{where}: id_field {field!r} of row {row} is {value!r}, not an integer "
                    f"(leave id_field unset to number the rows)")


def _answer_text(value: Any, where: str, field: str, pid: int) -> str:
    """The reference answer as the verifier's text: one-element lists unwrapped, 204.0 written 204."""
    if isinstance(value, list | tuple):
        if len(value) > 1:
            raise UserError(f"{where}: answer_field {field!r} of id {pid} holds {len(value)} values, not one")
        value = value[0] if value else None
    if isinstance(value, float) and (math.isnan(value) or value.is_integer()):
        value = None if math.isnan(value) else int(value)  # NaN: pandas' missing value
    text = None if value is None else str(value)
    if text is None or not text.strip():
        raise UserError(f"{where}: answer_field {field!r} of id {pid} is empty")
    return text


def _first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line, so the UserError stays one line."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
