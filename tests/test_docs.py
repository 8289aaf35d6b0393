"""The documentation cannot drift from the code: the per-token table's documented columns and
metadata are the ones the dump writes, every figure has a report caption, and no file points
a reader to documents that do not exist in this repository."""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tokenshift.analysis.divergence import DivergenceConfig
from tokenshift.analysis.dump import dump_schema, run_dump
from tokenshift.analysis.statistics import StatsParams
from tokenshift.figures.catalog import FIGURES
from tokenshift.generation.sampler import encode_prompt
from tokenshift.models.loading import load_tokenizer

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REPORT = ROOT / "workflow" / "report"
EXTRA_PATTERN = "js_pXXX"  # the documented stand-in for one column per extra top_p value

_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def markdown_rows(text: str, heading: str) -> list[list[str]]:
    """Cells of the table rows under ``## heading`` whose first cell is a name in backticks."""
    m = re.search(rf"^## {re.escape(heading)}\s*$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, f"no section '## {heading}'"
    rows = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in _CELL_SPLIT.split(line.strip("|"))]
        if re.fullmatch(r"`[^`]+`", cells[0]):
            rows.append([c.strip("`") if re.fullmatch(r"`[^`]+`", c) else c for c in cells])
    return rows


def documented_columns() -> list[tuple[str, str]]:
    rows = markdown_rows((DOCS / "per-token-table.md").read_text(), "Columns")
    return [(r[0], r[1]) for r in rows]


def documented_metadata() -> list[str]:
    return [r[0] for r in markdown_rows((DOCS / "per-token-table.md").read_text(), "File metadata")]


def type_name(t: pa.DataType) -> str:
    """The spelling the docs use: float32, int64, bool, string, list<int32>."""
    if pa.types.is_list(t):
        return f"list<{type_name(t.value_type)}>"
    return {"float": "float32", "double": "float64", "halffloat": "float16"}.get(str(t), str(t))


def expand(doc: list[tuple[str, str]], extra: list[str]) -> list[tuple[str, str]]:
    """The documented columns with the ``js_pXXX`` placeholder replaced by concrete names."""
    out = []
    for name, typ in doc:
        out.extend([(c, typ) for c in extra] if name == EXTRA_PATTERN else [(name, typ)])
    return out


def schema_columns(schema: pa.Schema) -> list[tuple[str, str]]:
    return [(f.name, type_name(f.type)) for f in schema]


def test_documented_columns_are_unique_and_have_the_extra_pattern():
    names = [n for n, _ in documented_columns()]
    assert len(names) == len(set(names))
    assert EXTRA_PATTERN in names


@pytest.mark.parametrize("cfg", [
    DivergenceConfig(top_p=0.9, extra_top_p=(0.7, 0.8, 0.9, 1.0)),
    DivergenceConfig(top_p=1.0),
    DivergenceConfig(top_p=0.7, extra_top_p=(0.95, 0.5), k=3),
])
def test_documented_columns_equal_dump_schema(cfg):
    schema = dump_schema(cfg, {})
    extra = list(cfg.extra_columns())
    assert all(re.fullmatch(r"js_p\d{3}", c) for c in extra)
    assert schema_columns(schema) == expand(documented_columns(), extra)


@pytest.fixture(scope="module")
def written_dump(tiny_pair, tmp_path_factory) -> Path:
    """A real dump of two tiny models, so the check covers what is written, not only the schema."""
    root = tmp_path_factory.mktemp("docs_dump")
    tok = load_tokenizer(tiny_pair[0])
    recs = []
    for pid, sid, prompt, text in [(0, 0, "12+34=", "12+34=46;#46"), (1, 0, "5+6=", "5+6=11;#11")]:
        ids = tok.encode(text, add_special_tokens=False) + [tok.eos_token_id]
        recs.append({"problem_id": pid, "sample_idx": sid, "prompt_ids": encode_prompt(tok, prompt),
                     "response_ids": ids})
    pl.DataFrame(recs).write_parquet(root / "gen.parquet")
    out = root / "dump.parquet"
    run_dump(*tiny_pair, root / "gen.parquet", out, DivergenceConfig(top_p=0.9, extra_top_p=(0.7, 0.8)))
    return out


def test_written_dump_matches_the_docs(written_dump):
    schema = pq.read_schema(written_dump)
    assert schema_columns(schema) == expand(documented_columns(), ["js_p070", "js_p080"])
    written_keys = sorted(k.decode() for k in (schema.metadata or {}) if not k.startswith(b"ARROW"))
    assert written_keys == sorted(documented_metadata())


def test_documented_thresholds_are_the_defaults():
    text = (DOCS / "definitions.md").read_text()
    documented = dict(re.findall(r"^\| [\w-]+ \| `js [<>] (\w+)` \| `([0-9.e-]+)` \|", text, flags=re.M))
    p = StatsParams()
    assert {k: float(v) for k, v in documented.items()} == {"near_zero": p.near_zero, "high": p.high}


def test_doc_links_resolve():
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


# --- report captions ----------------------------------------------------------------------------

OTHER_CAPTIONS = ["accuracy_table", "accuracy_figure", "shift_summary", "crosssampling_table",
                  "crosssample_targets", "crosssample_accuracy", "crosssample_random", "crosssample_pairs",
                  "weight_gap", "training_variants", "training_curves", "training_evolution", "scorecard", "viewer"]


@pytest.mark.parametrize("name", [*FIGURES, *OTHER_CAPTIONS])
def test_every_report_output_has_a_caption_that_parses(name):
    from docutils.core import publish_doctree
    path = REPORT / f"{name}.rst"
    assert path.is_file(), f"missing report caption {path.relative_to(ROOT)}"
    text = path.read_text()
    assert "paper" in text.lower() and "What to look for" in text
    warnings = io.StringIO()
    publish_doctree(text, settings_overrides={"warning_stream": warnings, "report_level": 2, "halt_level": 5})
    assert warnings.getvalue() == "", warnings.getvalue()


# --- no pointers to documents a reader of this repository cannot find ---------------------------

# Built from pieces so this file does not match itself.
STALE = re.compile("|".join([r"DESIGN" + r"\.md", r"DESIGN" + r" §", r"\biss" + r"ues?\s+#?\d+"]), re.IGNORECASE)


def test_no_file_cites_missing_design_documents_or_issues():
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.splitlines()
    hits = []
    for rel in files:
        path = ROOT / rel
        if not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            if STALE.search(line):
                hits.append(f"{rel}:{n}: {line.strip()[:100]}")
    assert not hits, "citations of documents that do not exist here:\n" + "\n".join(hits)


def test_every_caption_a_rule_names_exists():
    """Captions wired into ``report(...)`` outputs point at files that exist (paths relative to the rule file)."""
    rules_dir = ROOT / "workflow" / "rules"
    named = [(f, m) for f in rules_dir.glob("*.smk") for m in re.findall(r'caption="([^"{}]+)"', f.read_text())]
    assert len(named) >= 8
    for f, rel in named:
        assert (f.parent / rel).is_file(), f"{f.name}: caption {rel} is missing"


# --- generated and coverage pages ---------------------------------------------------------------

def test_config_reference_is_current():
    from tokenshift.pipeline.reference import config_reference

    assert (DOCS / "config-reference.md").read_text() == config_reference(), (
        "docs/config-reference.md is stale: python -m tokenshift.pipeline.reference > docs/config-reference.md")


def test_coverage_lists_every_figure_and_table_with_rules_that_exist():
    text = (DOCS / "coverage.md").read_text()
    figures = [int(n) for n in re.findall(r"^\| Fig\. (\d+) \|", text, re.M)]
    tables = [int(n) for n in re.findall(r"^\| Table (\d+) \|", text, re.M)]
    assert figures == list(range(1, 48)) and tables == list(range(1, 7))
    rules_text = "\n".join(f.read_text() for f in (ROOT / "workflow" / "rules").glob("*.smk"))
    rules = set(re.findall(r"^rule (\w+):", rules_text, re.M)) | {f"figure_{f}" for f in FIGURES}
    named = {r for row in re.findall(r"^\| (?:Fig\.|Table) \d+ \|[^|]*\|([^|]*)\|", text, re.M)
             for r in re.findall(r"`(\w+)`", row)}
    assert named and named <= rules, named - rules
