"""Which library files a rule script depends on, so Snakemake reruns it when they change.

Parsed from the script's imports (transitively through the package) rather than listed by
hand: a list by hand goes stale, and declaring the whole package would retrain every model
whenever a figure's code changes.
"""

from __future__ import annotations

import ast
import os
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # workflow/tokenshift


def _module_file(module: str) -> Path | None:
    parts = module.split(".")
    if parts[0] != "tokenshift":
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of the tokenshift modules imported by the file at ``path``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{a.name}" for a in node.names)
    return {m for m in found if m.split(".")[0] == "tokenshift" and _module_file(m)}


@cache
def _closure(path: Path, package: str) -> frozenset[Path]:
    out: set[Path] = set()
    todo = list(_imported_modules(path, package))
    seen: set[str] = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        f = _module_file(mod)
        out.add(f)
        pkg = mod if f.name == "__init__.py" else mod.rsplit(".", 1)[0]
        todo.extend(_imported_modules(f, pkg))
    return frozenset(out)


def script_sources(script: str | Path) -> list[str]:
    """Sorted library files the script imports, directly or through other library modules, relative to the
    working directory: Snakemake records a job's input paths, so absolute ones would make a moved or copied
    run folder look changed and rerun everything."""
    modules = _closure(Path(script).resolve(), "tokenshift")
    templates = {t for m in modules for t in m.parent.glob(f"{m.stem}.*.j2")}  # a module's page template
    return sorted(os.path.relpath(p) for p in modules | templates)
