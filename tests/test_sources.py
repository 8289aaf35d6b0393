"""A rule's library inputs are the modules its script imports, transitively: editing one reruns the rule."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT
from tokenshift.pipeline.sources import script_sources

LIB = ROOT / "workflow" / "tokenshift"


def rel(paths: list[str]) -> set[str]:
    return {str(Path(p).resolve().relative_to(LIB.resolve())) for p in paths}


def test_generate_depends_on_what_it_imports_and_their_imports():
    deps = rel(script_sources(ROOT / "workflow" / "scripts" / "generate.py"))
    # direct imports, and modules reached only through them (sampler -> decoding, keyed)
    assert {"generation/sampler.py", "generation/vllm_backend.py", "files/shards.py", "files/parquet.py",
            "models/decoding.py", "distributions/keyed.py", "pipeline/rulectx.py"} <= deps
    assert not any(d.startswith(("figures/", "crosssample/", "training/")) for d in deps)


def test_a_figure_rule_does_not_depend_on_model_code():
    deps = rel(script_sources(ROOT / "workflow" / "scripts" / "training_curves.py"))
    assert "figures/training.py" in deps and "figures/plotting.py" in deps
    assert not any(d.startswith(("models/", "generation/", "training/")) for d in deps)


def test_sources_are_relative_so_a_moved_project_keeps_its_inputs(monkeypatch):
    monkeypatch.chdir(ROOT)
    deps = script_sources(ROOT / "workflow" / "scripts" / "generate.py")
    assert deps and all(not Path(d).is_absolute() and d.startswith("workflow/tokenshift/") for d in deps)


def test_a_page_template_is_an_input_of_the_rule_that_renders_it():
    assert "figures/viewer.html.j2" in rel(script_sources(ROOT / "workflow" / "scripts" / "viewer.py"))
