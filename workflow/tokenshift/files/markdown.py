"""Text tables, the one writer every table of a run goes through: GitHub Markdown and LaTeX (booktabs)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value).replace("|", r"\|")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], digits: int = 3) -> str:
    """A Markdown table: floats to ``digits`` significant digits, None as an em dash, pipes escaped."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v, digits) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _tex(s: str) -> str:
    return (s.replace("%", r"\%").replace("_", r"\_").replace(">=", r"$\geq$").replace("<=", r"$\leq$")
            .replace("±", r"$\pm$").replace("#", r"\#"))


def latex_table(headers: Sequence[str], rows: Iterable[Sequence[str]], n_left: int = 1) -> str:
    """A booktabs tabular of text cells: the first ``n_left`` columns left-aligned, the rest right."""
    lines = [r"\begin{tabular}{" + "l" * n_left + "r" * (len(headers) - n_left) + "}", r"\toprule",
             " & ".join(_tex(h) for h in headers) + r" \\", r"\midrule"]
    lines += [" & ".join(_tex(c) for c in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
