"""The library's subpackages form layers, and imports only flow downwards (or within a subpackage)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "workflow" / "tokenshift"
# Lower layers never import higher ones; subpackages on one layer never import each other.
LAYERS = [
    {"errors", "__init__"},
    {"files", "registry"},
    {"distributions"},
    {"data", "models"},
    {"generation", "evaluation"},
    {"training", "analysis", "crosssample"},
    {"figures"},
    {"pipeline"},
    {"commands"},
    {"cli"},
    {"__main__"},
]
LAYER_OF = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(module_path: Path) -> str:
    """First component under tokenshift/: a subpackage or a top-level module."""
    rel = module_path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for n in names:
            parts = n.split(".")
            if parts[0] == "tokenshift" and len(parts) > 1:
                out.add(parts[1])
    return out


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in PACKAGE.rglob("*.py")}
    assert units <= set(LAYER_OF), sorted(units - set(LAYER_OF))


def test_imports_flow_downwards():
    bad = []
    for path in PACKAGE.rglob("*.py"):
        me = _unit(path)
        for other in _imports(path):
            if other != me and LAYER_OF[other] >= LAYER_OF[me]:
                bad.append(f"{path.relative_to(PACKAGE)} imports tokenshift.{other}")
    assert not bad, bad


def test_every_subpackage_says_what_it_owns():
    for init in PACKAGE.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 15, f"{init.parent.name}/__init__.py needs a docstring"
